"""``python -m mmpose_attn_runtime`` on a folder and on a video: the demos' JSON and drawings."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

pytest.importorskip('onnx')  # the tests export their models


def _frames(n, h=240, w=320):
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8), (w, h))
    return [np.roll(base, 7 * i, axis=1) for i in range(n)]


def _cli(*args):
    proc = subprocess.run([sys.executable, '-m', 'mmpose_attn_runtime', *map(str, args)],
                          capture_output=True,
                          text=True,
                          timeout=300)
    return proc


def test_cli_folder_with_bbox_file(esam_onnx, tmp_path):
    folder = tmp_path / 'in'
    (folder / 'sub').mkdir(parents=True)
    paths = [
        folder / '000000000001.jpg', folder / 'sub' / '000000000002.png',
        folder / 'sub' / '000000000002.jpg'
    ]
    for path, img in zip(paths, _frames(3)):
        cv2.imwrite(str(path), img)
    (folder / 'broken.jpg').write_bytes(b'not an image')
    dets = [
        dict(image_id=1, category_id=1, bbox=[10, 20, 100, 150], score=0.9),
        dict(image_id=1, category_id=1, bbox=[150, 30, 80, 120], score=0.2),  # < bbox-thr
        dict(image_id=2, category_id=1, bbox=[50, 40, 120, 180], score=0.8)
    ]
    (tmp_path / 'dets.json').write_text(json.dumps(dets))
    out = tmp_path / 'out'
    proc = _cli(folder, '--model', esam_onnx, '--bbox-file', tmp_path / 'dets.json', '--out', out)
    assert proc.returncode == 0, proc.stderr
    res1 = json.loads((out / 'results_000000000001.json').read_text())
    # one stem, two images in one folder: the names keep the extension, as the demos'
    res2 = json.loads((out / 'sub' / 'results_000000000002.png.json').read_text())
    assert (out / 'sub' / 'results_000000000002.jpg.json').is_file()
    assert "skipping cannot read image" in proc.stderr and 'broken.jpg' in proc.stderr
    assert res1['meta_info']['keypoint_id2name']['0'] == 'nose'
    assert res1['meta_info']['num_keypoints'] == 17
    assert len(res1['instance_info']) == 1 and len(res2['instance_info']) == 1
    inst = res1['instance_info'][0]
    assert np.array(inst['keypoints']).shape == (17, 2)
    assert len(inst['keypoint_scores']) == 17
    assert inst['bbox'] == [[10.0, 20.0, 110.0, 170.0]] and abs(inst['bbox_score'] - 0.9) < 1e-6
    for drawing in (out / '000000000001.jpg', out / 'sub' / '000000000002.png'):
        assert cv2.imread(str(drawing)).shape == (240, 320, 3)
    assert f'saved {out / "results_000000000001.json"}' in proc.stdout
    assert not list(out.rglob('.tmp_*'))


def test_cli_video(esam_onnx, tmp_path):
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10, (320, 240))
    for frame in _frames(3):
        writer.write(frame)
    writer.release()
    out = tmp_path / 'out'
    proc = _cli(video, '--model', esam_onnx, '--out', out)
    assert proc.returncode == 0, proc.stderr
    res = json.loads((out / 'results_clip.json').read_text())
    assert [f['frame_id'] for f in res['instance_info']] == [1, 2, 3]
    for frame in res['instance_info']:  # no boxes: the whole frame is one person
        assert len(frame['instances']) == 1
        assert frame['instances'][0]['bbox'] == [[0.0, 0.0, 320.0, 240.0]]
    cap = cv2.VideoCapture(str(out / 'clip.mp4'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


def test_cli_reports_a_bad_model_file(tmp_path):
    bad = tmp_path / 'model.onnx'
    bad.write_bytes(b'\x08\x07' + b'\xff' * 10)
    img = tmp_path / 'a.jpg'
    cv2.imwrite(str(img), _frames(1)[0])
    proc = _cli(img, '--model', bad, '--out', tmp_path / 'out')
    assert proc.returncode == 1
    assert 'model.onnx is damaged or not an ONNX file' in proc.stderr
    assert not (tmp_path / 'out' / 'results_a.json').exists()
