"""The top-down inferencer the input and guard tests share (random-weight ESAM-R50, boxes from a
detection file, no flip test)."""
import pytest
from _demo_tools import ESAM

from mmpose_attn.apis import AttnPoseInferencer, CocoDetections

TOPDOWN_FAST = {'model.test_cfg.flip_test': False}


@pytest.fixture(scope='module')
def esam(tmp_path_factory):
    det = tmp_path_factory.mktemp('dets') / 'dets.json'
    det.write_text('[]')
    with pytest.warns(UserWarning):
        return AttnPoseInferencer(
            ESAM,
            'none',
            device='cpu',
            cfg_options=TOPDOWN_FAST,
            detections=CocoDetections(str(det)),
            expect='topdown')
