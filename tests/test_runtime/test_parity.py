"""The runtime's poses equal our mmpose path with ONNX Runtime (``AttnPoseInferencer``,
``backend='onnxruntime'``, fp32: mmpose's pipeline, flip test and decoding around the same file),
on the real COCO samples: ESAM top-down with boxes from the detection file, SAMKR bottom-up;
flip test on, random weights (flat heatmaps: the hardest case for equality)."""
import json
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest

pytest.importorskip('onnx')  # the tests export their models

from _runtime_models import COCO_IMAGES, ESAM, SAMKR, prepared_config  # noqa: E402
from mmpose_attn_runtime import BottomUp, TopDown  # noqa: E402

TOL = 0.01  # px


def _reference(config, onnx_file, inputs, out, shared_data, detections=None):
    """Our demos' path: the inferencer's predictions and its ``--save-predictions`` JSON."""
    from mmpose_attn.apis.inferencer import AttnPoseInferencer
    cfg = prepared_config(config, f'{shared_data}/coco/')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        inferencer = AttnPoseInferencer(
            cfg, 'none', backend='onnxruntime', onnx=onnx_file, threads=1, detections=detections)
        inferencer.run(str(inputs), output_root=str(out), save_predictions=True)


def _load(path):
    with open(path) as f:
        return json.load(f)


def _compare_json(ref_dir, ours_dir, names):
    """Same people in the same order, keypoints within TOL; meta_info agrees where both have a
    key. Returns the largest keypoint difference."""
    worst = 0.0
    for name in names:
        ref, ours = _load(ref_dir / name), _load(ours_dir / name)
        for key in set(ref['meta_info']) & set(ours['meta_info']):
            assert ours['meta_info'][key] == ref['meta_info'][key], key
        assert len(ours['instance_info']) == len(ref['instance_info']) > 0, name
        for a, b in zip(ours['instance_info'], ref['instance_info']):
            assert set(a) == set(b)
            diff = np.abs(np.subtract(a['keypoints'], b['keypoints'])).max()
            np.testing.assert_allclose(a['keypoint_scores'], b['keypoint_scores'], atol=1e-4)
            if 'bbox' in b:
                np.testing.assert_allclose(a['bbox'], b['bbox'], atol=1e-4)
                assert abs(a['bbox_score'] - b['bbox_score']) < 1e-6
            worst = max(worst, diff)
    assert worst <= TOL, worst
    return worst


@pytest.mark.shared_data
def test_topdown_esam_equals_mmpose_path(shared_data, esam_onnx, tmp_path):
    from mmpose_attn.apis.detections import CocoDetections
    images = shared_data / 'coco/images'
    det_file = shared_data / 'coco/detections/test_coco_det_AP_H_56.json'
    _reference(ESAM, esam_onnx, images, tmp_path / 'ref', shared_data,
               CocoDetections(str(det_file)))
    proc = subprocess.run([
        sys.executable, '-m', 'mmpose_attn_runtime',
        str(images), '--model', esam_onnx, '--bbox-file',
        str(det_file), '--out',
        str(tmp_path / 'ours'), '--threads', '1'
    ],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / 'ref').glob('results_*.json'))
    assert len(names) == 4
    _compare_json(tmp_path / 'ref', tmp_path / 'ours', names)
    # the API gives the CLI's numbers; boxes from the demo's JSON (score > 0.3)
    model = TopDown(esam_onnx, threads=1, batch_size=5)
    ref = _load(tmp_path / 'ref' / names[1])['instance_info']
    boxes = np.array([i['bbox'][0] + [i['bbox_score']] for i in ref], dtype=np.float32)
    kpts, scores = model(cv2.imread(str(images / names[1][8:-5]) + '.jpg'), boxes)
    assert kpts.shape == (len(ref), 17, 2) and scores.shape == (len(ref), 17)
    assert np.abs(kpts - np.array([i['keypoints'] for i in ref])).max() <= TOL


@pytest.mark.shared_data
def test_bottomup_samkr_equals_mmpose_path(shared_data, samkr_any_onnx, tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    for name in COCO_IMAGES:  # photos that resize to two sizes: the file takes any
        (folder / name).symlink_to(shared_data / 'coco/images' / name)
    _reference(SAMKR, samkr_any_onnx, folder, tmp_path / 'ref', shared_data)
    model = BottomUp(samkr_any_onnx, threads=1, batch_size=2)
    results = model.batch([cv2.imread(str(folder / n)) for n in COCO_IMAGES])
    for name, (kpts, scores) in zip(COCO_IMAGES, results):
        ref = _load(tmp_path / 'ref' / f'results_{name[:-4]}.json')['instance_info']
        assert kpts.shape == (len(ref), 17, 2) and len(ref) > 0
        assert np.abs(kpts - np.array([i['keypoints'] for i in ref])).max() <= TOL
        np.testing.assert_allclose(scores, [i['keypoint_scores'] for i in ref], atol=1e-4)
    # the CLI writes the same JSON
    assert subprocess.run([
        sys.executable, '-m', 'mmpose_attn_runtime',
        str(folder), '--model', samkr_any_onnx, '--out',
        str(tmp_path / 'ours'), '--threads', '1'
    ],
                          timeout=300).returncode == 0
    _compare_json(tmp_path / 'ref', tmp_path / 'ours',
                  [f'results_{n[:-4]}.json' for n in COCO_IMAGES])
