"""The demos' result files are written whole or not at all."""
import json

import pytest

from mmpose_attn.apis.inferencer import save_predictions
from mmpose_attn.deployment.base import NonFiniteOutputError


def test_nan_predictions_leave_no_partial_result(tmp_path):
    out = tmp_path / 'results_img.json'
    good = [dict(keypoints=[[1.5, 2.0]], keypoint_scores=[0.9])]
    save_predictions(str(out), dict(dataset_name='coco'), good)
    before = out.read_bytes()
    assert json.loads(before)['instance_info'][0]['keypoints'] == [[1.5, 2.0]]
    bad = [dict(keypoints=[[float('nan'), 2.0]], keypoint_scores=[0.9])]
    with pytest.raises(
            NonFiniteOutputError,
            match=r'results_img.json not written: the '
            r'predictions hold non-finite values \(NaN/inf\), which JSON cannot hold'):
        save_predictions(str(out), dict(dataset_name='coco'), bad)
    assert out.read_bytes() == before  # the earlier complete file, not a truncated one
    with pytest.raises(NonFiniteOutputError):
        save_predictions(str(tmp_path / 'results_new.json'), {}, bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['results_img.json']  # no temp file
