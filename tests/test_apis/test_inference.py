"""Inference tools: the top-down demo with an mmdet detector and with --bbox-file, the
batched bottom-up demo over a folder and a video, MMPoseInferencer with our configs, and the
error cases. Models run with the checkpoint ``none`` (random weights, offline); the inputs are
shrunk (no flip test, bottom-up at 64 px) to keep the file well under a minute and a half."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import mmcv
import numpy as np
import pytest
import torch
from _demo_tools import BOTTOMUP_FAST_OPTIONS as BOTTOMUP_FAST_DICT
from _demo_tools import ESAM, REPO, SAMKR
from _demo_tools import load_tool as _tool

from mmpose_attn.apis import (AttnPoseInferencer, CocoDetections, RandomWeightsWarning,
                              build_pose_model, prepare_det_config, read_image, select_person_boxes)

torch.set_num_threads(2)

RTMDET = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
IMG_785 = '000000000785.jpg'
# fp32: these tests compare with PyTorch fp32 runs (the bf16 default is tested in test_backends)
TOPDOWN_FAST = ['--precision', 'fp32', '--cfg-options', 'model.test_cfg.flip_test=False']
# 64 px (resized to 96-128 x 64) keeps HRNet-W32 cheap on CPU
BOTTOMUP_FAST = [
    '--precision', 'fp32', '--cfg-options', 'model.test_cfg.flip_test=False',
    'test_dataloader.dataset.pipeline.1.input_size=(64,64)'
]


def _load_json(path: Path) -> dict:
    # json_tricks output is plain json (numpy arrays become {"__ndarray__": ...} dicts)
    with open(path) as f:
        return json.load(f)


def _check_instance(inst: dict) -> None:
    assert np.asarray(inst['keypoints']).shape == (17, 2)
    assert np.asarray(inst['keypoint_scores']).shape == (17, )


def _boxes_above(det_file: Path, image_id: int, thr: float) -> np.ndarray:
    """(N, 5) xyxy+score of the file's person boxes of one image scoring above ``thr``."""
    dets = [
        d for d in json.load(open(det_file))
        if d['image_id'] == image_id and d['category_id'] == 1 and d['score'] > thr
    ]
    return np.array([[x, y, x + w, y + h, d['score']] for d in dets for x, y, w, h in [d['bbox']]])


# ------------------------------------------------------------------------------ top-down paths
def test_topdown_bbox_file_one_instance_per_box(shared_data, tmp_path):
    """--bbox-file: one instance per box above --bbox-thr, with that box and score, and its 17
    keypoints inside the (padded, aspect-fixed) box the pose model saw."""
    det_file = shared_data / 'coco/detections/test_coco_det_AP_H_56.json'
    img_path = shared_data / 'coco/images' / IMG_785
    out = tmp_path / 'out'
    with pytest.warns(RandomWeightsWarning, match='MEANINGLESS'):
        written = _tool('topdown_demo_with_mmdet').main([
            '-', '-', ESAM, 'none', '--input',
            str(img_path), '--output-root',
            str(out), '--bbox-file',
            str(det_file), '--bbox-thr', '0.3', '--save-predictions', '--device', 'cpu',
            '--draw-bbox', *TOPDOWN_FAST
        ])
    assert sorted(written) == sorted([str(out / IMG_785), str(out / 'results_000000000785.json')])
    assert mmcv.imread(str(out / IMG_785)).shape == mmcv.imread(str(img_path)).shape

    expected = _boxes_above(det_file, 785, 0.3)
    instances = _load_json(out / 'results_000000000785.json')['instance_info']
    assert len(expected) == 2 and len(instances) == len(expected)
    for inst, box in zip(
            sorted(instances, key=lambda i: -i['bbox_score']),
            expected[np.argsort(-expected[:, 4])]):
        _check_instance(inst)
        np.testing.assert_allclose(inst['bbox'], [box[:4]], rtol=1e-5)
        assert inst['bbox_score'] == pytest.approx(box[4], rel=1e-6)
        # top-down crop: box padded x1.25 and widened/heightened to 192:256
        w, h = (box[2] - box[0]) * 1.25, (box[3] - box[1]) * 1.25
        w, h = (w, w / 0.75) if w > 0.75 * h else (h * 0.75, h)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        # a heatmap without a positive maximum decodes to heatmap pixel -1: one pixel (4 input
        # px) outside the crop
        kpts, tol = np.asarray(inst['keypoints']), 1.01 * w / 48
        assert np.all(np.abs(kpts[:, 0] - cx) <= w / 2 + tol)
        assert np.all(np.abs(kpts[:, 1] - cy) <= h / 2 + tol)


def test_topdown_bbox_file_folder_counts(shared_data, tmp_path):
    """A folder: one drawing and one json per image, instance counts = boxes above the threshold
    (image ids from the file names, and from --ann-file)."""
    det_file = shared_data / 'coco/detections/test_coco_det_AP_H_56.json'
    ann_file = shared_data / 'coco/annotations/test_coco.json'
    out = tmp_path / 'out'
    _tool('topdown_demo_with_mmdet').main([
        '-', '-', ESAM, 'none', '--input',
        str(shared_data / 'coco/images'), '--output-root',
        str(out), '--bbox-file',
        str(det_file), '--ann-file',
        str(ann_file), '--bbox-thr', '0.999', '--save-predictions', '--device', 'cpu', *TOPDOWN_FAST
    ])
    images = json.load(open(ann_file))['images']
    assert len(images) == 4
    for image in images:
        stem = Path(image['file_name']).stem
        assert (out / image['file_name']).is_file()
        instances = _load_json(out / f'results_{stem}.json')['instance_info']
        assert len(instances) == len(_boxes_above(det_file, image['id'], 0.999))
        for inst in instances:
            _check_instance(inst)
    dets = CocoDetections(str(det_file))
    assert dets.image_id('x/000000040083.jpg') == 40083
    assert len(dets.boxes('000000040083.jpg')) == 26  # all scores, the threshold is the caller's


def test_topdown_with_mmdet_detector_cli(shared_data, tmp_path):
    """The script as users run it: RTMDet-tiny from mmdet's configs (mmdet::), both models with
    random weights, offline. A random detector usually finds nobody; the outputs are still
    written and every instance it finds has 17 keypoints."""
    img_path = shared_data / 'coco/images' / IMG_785
    out = tmp_path / 'out'
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]),
        OMP_NUM_THREADS='2')
    proc = subprocess.run([
        sys.executable,
        str(REPO / 'tools/topdown_demo_with_mmdet.py'), RTMDET, 'none', ESAM, 'none', '--input',
        str(img_path), '--output-root',
        str(out), '--save-predictions', '--device', 'cpu', *TOPDOWN_FAST
    ],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'DET_CHECKPOINT is "none"' in log and 'POSE_CHECKPOINT is "none"' in log
    assert mmcv.imread(str(out / IMG_785)).shape == mmcv.imread(str(img_path)).shape
    result = _load_json(out / 'results_000000000785.json')
    assert result['meta_info']['num_keypoints'] == 17
    assert isinstance(result['instance_info'], list)
    for inst in result['instance_info']:
        _check_instance(inst)
        assert inst['bbox_score'] > 0.3


def test_select_person_boxes():
    """Detector output -> person boxes: class, strict score threshold, then NMS."""
    bboxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60], [1, 1, 10, 10],
                       [20, 20, 30, 30]],
                      dtype=np.float32)
    scores = np.array([0.9, 0.95, 0.2, 0.8, 0.3], dtype=np.float32)
    labels = np.array([0, 1, 0, 0, 0])
    boxes = select_person_boxes(bboxes, scores, labels, det_cat_id=0, bbox_thr=0.3, nms_thr=0.3)
    # class 1 dropped, 0.2 and 0.3 (not above 0.3) dropped, [1,1,10,10] suppressed by NMS
    np.testing.assert_allclose(boxes, [[0, 0, 10, 10, 0.9]])
    assert select_person_boxes(bboxes, scores, labels, det_cat_id=3).shape == (0, 5)


# ----------------------------------------------------------------------------- bottom-up paths
def test_bottomup_folder_batched(shared_data, tmp_path):
    """SAMKR over the COCO image folder in one batch of 4: one drawing and one json per image,
    and for the images that needed no padding in the batch, the results of batch size 1."""
    folder = shared_data / 'coco/images'
    out = tmp_path / 'out'
    torch.manual_seed(0)  # the same random weights again below
    _tool('bottomup_demo').main([
        SAMKR, 'none', '--input',
        str(folder), '--output-root',
        str(out), '--save-predictions', '--device', 'cpu', '--batch-size', '4', *BOTTOMUP_FAST
    ])
    images = sorted(p.name for p in folder.glob('*.jpg'))
    assert len(images) == 4
    assert sorted(p.name for p in out.glob('results_*.json')) == [
        f'results_{Path(name).stem}.json' for name in images
    ]
    for name in images:
        assert mmcv.imread(str(out / name)).shape == mmcv.imread(str(folder / name)).shape
        result = _load_json(out / f'results_{Path(name).stem}.json')
        assert result['meta_info']['num_keypoints'] == 17
        assert 0 < len(result['instance_info']) <= 30  # decode_max_instances
        for inst in result['instance_info']:
            _check_instance(inst)

    # 785 and 40083 resize to the batch's largest input (128x64); 196141 (96x64) is
    # zero-padded in the batch, which changes its border responses slightly
    from mmpose.apis import inference_bottomup
    torch.manual_seed(0)
    model = build_pose_model(SAMKR, 'none', device='cpu', cfg_options=BOTTOMUP_FAST_DICT)
    names = ['000000000785.jpg', '000000040083.jpg']
    for name in names:
        (single, ) = inference_bottomup(model, str(folder / name))
        batched = _load_json(out / f'results_{Path(name).stem}.json')['instance_info']
        np.testing.assert_allclose([i['keypoints'] for i in batched],
                                   single.pred_instances.keypoints,
                                   atol=1e-2)
        np.testing.assert_allclose([i['keypoint_scores'] for i in batched],
                                   single.pred_instances.keypoint_scores,
                                   atol=1e-4)


class _RecordingInferencer(AttnPoseInferencer):
    """Records the batch sizes reaching the model-forward step (the backend extension point)."""

    def predict_batch(self, data):
        self.batch_sizes.append(len(data['data_samples']))
        return super().predict_batch(data)


@pytest.fixture(scope='module')
def samkr_inferencer():
    torch.manual_seed(0)
    inferencer = _RecordingInferencer(SAMKR, 'none', device='cpu', cfg_options=BOTTOMUP_FAST_DICT)
    inferencer.batch_sizes = []
    return inferencer


def test_bottomup_batches_only_when_the_head_supports_it(samkr_inferencer, tmp_path):
    """SAMKRHead.supports_batch_predict: 3 images at --batch-size 2 are one forward of 2 and
    one of 1; a head without it (mmpose's DEKRHead asserts batch size 1) gets one image per
    forward, the same predictions in input order."""
    rng = np.random.default_rng(0)
    for i in range(3):  # one size: no padding in the batch, so batched == one at a time
        cv2.imwrite(str(tmp_path / f'{i}.png'), rng.integers(0, 255, (64, 64, 3), np.uint8))
    inferencer, head = samkr_inferencer, samkr_inferencer.model.head
    assert type(head).supports_batch_predict is True
    inferencer.batch_sizes = []
    batched = [r['predictions'] for r in inferencer(str(tmp_path), batch_size=2)]
    assert inferencer.batch_sizes == [2, 1] and [len(r) for r in batched] == [2, 1]
    head.supports_batch_predict = False  # on this instance only
    try:
        inferencer.batch_sizes = []
        single = [r['predictions'][0] for r in inferencer(str(tmp_path), batch_size=2)]
    finally:
        del head.supports_batch_predict
    assert inferencer.batch_sizes == [1, 1, 1]
    flat = [p for r in batched for p in r]
    assert len(flat) == len(single) == 3
    for b, s in zip(flat, single):
        np.testing.assert_allclose([i['keypoints'] for i in b], [i['keypoints'] for i in s],
                                   atol=1e-3)


def test_bottomup_multiscale_batches(tmp_path):
    """With flip + scales [1, 0.5, 1.5] (switched on by cfg options, as in `mim test`), a batch of
    two same-size images gives each image's batch-1 result."""
    rng = np.random.default_rng(1)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f'{i}.png'), rng.integers(0, 255, (64, 64, 3), np.uint8))
    options = dict(
        BOTTOMUP_FAST_DICT, **{
            'model.test_cfg.multiscale_test': True,
            'model.test_cfg.flip_test': True,
            'model.head.decoder.decode_thr': 0.0,
            'test_dataloader.dataset.pipeline.1.aug_scales': [0.5, 1.5]
        })
    torch.manual_seed(0)
    inferencer = _RecordingInferencer(SAMKR, 'none', device='cpu', cfg_options=options)
    calls = []
    decode = inferencer.model.head._decode_multiscale
    inferencer.model.head._decode_multiscale = (
        lambda hms, *a, **k: calls.append(len(hms)) or decode(hms, *a, **k))
    inferencer.batch_sizes = []
    batched = [p for r in inferencer(str(tmp_path), batch_size=2) for p in r['predictions']]
    assert inferencer.batch_sizes == [2, 1] and calls == [3, 3, 3]
    inferencer.batch_sizes = []
    single = [r['predictions'][0] for r in inferencer(str(tmp_path), batch_size=1)]
    assert inferencer.batch_sizes == [1, 1, 1] and len(batched) == len(single) == 3
    for b, s in zip(batched, single):
        assert len(b) == len(s) > 0
        np.testing.assert_allclose([i['keypoints'] for i in b], [i['keypoints'] for i in s],
                                   atol=1e-3)


def test_bottomup_video(shared_data, tmp_path):
    """A video in, a drawn video and one json entry per frame (frame_id from 1) out; frames are
    batched two at a time (3 frames: a batch of 2 and one of 1)."""
    frame = mmcv.imresize(read_image(str(shared_data / 'coco/images' / IMG_785)), (160, 106))
    video = tmp_path / 'clip.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 10, (160, 106))
    for _ in range(3):
        writer.write(frame)
    writer.release()
    out = tmp_path / 'out'
    _tool('bottomup_demo').main([
        SAMKR, 'none', '--input',
        str(video), '--output-root',
        str(out), '--save-predictions', '--device', 'cpu', '--batch-size', '2', *BOTTOMUP_FAST
    ])
    drawn = mmcv.VideoReader(str(out / 'clip.mp4'))
    assert (drawn.frame_cnt, drawn.width, drawn.height) == (3, 160, 106)
    frames = _load_json(out / 'results_clip.json')['instance_info']
    assert [f['frame_id'] for f in frames] == [1, 2, 3]
    for f in frames:
        for inst in f['instances']:
            _check_instance(inst)


def test_visualizer_draws_keypoints():
    """The plugin's configs' visualizer (mmpose 1.3.2's raises TypeError on every drawn keypoint
    under numpy >= 2.3, mmpose_attn.compat.numpy_draw_circles): keypoints above kpt_thr are
    drawn, those below are not."""
    from mmengine.structures import InstanceData
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import PoseDataSample

    dataset_meta = parse_pose_metainfo(dict(from_file='configs/_base_/datasets/coco.py'))
    visualizer = VISUALIZERS.build(
        dict(type='ScalarCirclesPoseLocalVisualizer', radius=3, name='test_inference_visualizer'))
    img = np.zeros((120, 160, 3), np.uint8)
    kpts = np.stack([np.linspace(20, 140, 17), np.full(17, 60.)], axis=1)[None]
    scores = np.array([[1.] * 9 + [0.] * 8], dtype=np.float32)
    sample = PoseDataSample()
    sample.pred_instances = InstanceData(
        keypoints=kpts, keypoint_scores=scores, keypoints_visible=scores)
    for style in ('mmpose', 'openpose'):
        visualizer.set_dataset_meta(dataset_meta, skeleton_style=style)
        drawn = mmcv.rgb2bgr(
            visualizer.add_datasample(
                'result',
                mmcv.bgr2rgb(img),
                data_sample=sample,
                draw_gt=False,
                kpt_thr=0.3,
                skeleton_style=style))
        assert drawn.shape == img.shape
        for (x, y), score in zip(kpts[0].astype(int), scores[0]):
            assert (drawn[y, x].sum() > 0) == (score > 0.3), (style, x, score)


# ------------------------------------------------------------------------------ MMPoseInferencer
def test_mmpose_inferencer_with_our_config(shared_data, tmp_path):
    """MMPoseInferencer(pose2d=<our config>, ...) offline: the pose weights from a checkpoint
    saved from a randomly initialised model, the detector (a config file) with random weights."""
    from mmengine.utils import get_installed_path
    from mmpose.apis import MMPoseInferencer

    model = build_pose_model(
        ESAM, 'none', device='cpu', cfg_options={'model.test_cfg.flip_test': False})
    ckpt = tmp_path / 'esam_random.pth'
    torch.save({
        'state_dict': model.state_dict(),
        'meta': {
            'dataset_meta': model.dataset_meta
        }
    }, ckpt)
    det_cfg = os.path.join(
        get_installed_path('mmdet'), '.mim', 'configs', 'rtmdet', 'rtmdet_tiny_8xb32-300e_coco.py')
    inferencer = MMPoseInferencer(
        pose2d=ESAM,
        pose2d_weights=str(ckpt),
        det_model=det_cfg,
        det_weights=None,
        det_cat_ids=[0],
        device='cpu')
    # the ESAM weights were loaded from the file, not re-initialised
    for k, v in model.state_dict().items():
        assert torch.equal(inferencer.inferencer.model.state_dict()[k], v), k
    img = str(shared_data / 'coco/images' / IMG_785)
    result = next(inferencer(img, pred_out_dir=str(tmp_path / 'pred')))
    (instances, ) = result['predictions']
    # mmpose falls back to the whole image when the (random) detector finds nobody
    assert len(instances) >= 1
    for inst in instances:
        _check_instance(inst)
    assert len(_load_json(tmp_path / 'pred' / '000000000785.json')) == len(instances)


# ------------------------------------------------------------------------------------- errors
def test_missing_input_path(tmp_path):
    missing = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match=r'--input .*nope\.jpg.* does not exist'):
        _tool('bottomup_demo').main(
            [SAMKR, 'none', '--input', missing, '--output-root',
             str(tmp_path)])
    with pytest.raises(FileNotFoundError, match='does not exist'):
        _tool('topdown_demo_with_mmdet').main(
            [RTMDET, 'none', ESAM, 'none', '--input', missing, '--output-root',
             str(tmp_path)])


def test_unreadable_image(samkr_inferencer, tmp_path):
    """A single unreadable image is an error naming it, and nothing is written (in a folder
    with readable images it is skipped: tests/test_apis/test_inference_inputs.py)."""
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'this is not a jpeg')
    samkr_inferencer.batch_sizes = []
    with pytest.raises(ValueError, match=r'cannot read image .*broken\.jpg'):
        samkr_inferencer.run(str(bad), output_root=str(tmp_path / 'out'))
    # a folder of nothing readable too
    with pytest.raises(ValueError, match=r'cannot read image .*broken\.jpg'):
        samkr_inferencer.run(str(tmp_path), output_root=str(tmp_path / 'o'))
    assert samkr_inferencer.batch_sizes == []
    assert list((tmp_path / 'out').iterdir()) == [] and list((tmp_path / 'o').iterdir()) == []


def test_unopenable_video(samkr_inferencer, tmp_path):
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'this is not a video')
    with pytest.raises(ValueError, match=r'cannot open video .*broken\.mp4.*ffmpeg'):
        samkr_inferencer.run(str(bad), output_root=str(tmp_path / 'out'))


def test_not_a_pose_config(shared_data, tmp_path):
    img = str(shared_data / 'coco/images' / IMG_785)
    det_file = str(shared_data / 'coco/detections/test_coco_det_AP_H_56.json')
    topdown = _tool('topdown_demo_with_mmdet')
    common = ['--input', img, '--output-root', str(tmp_path), '--bbox-file', det_file]
    with pytest.raises(ValueError, match=r"not an mmpose pose config.*'RTMDet'.*DET_CONFIG"):
        topdown.main(['-', '-', RTMDET, 'none', *common])
    with pytest.raises(ValueError, match=r'bottomup model.*tools/bottomup_demo\.py'):
        topdown.main(['-', '-', SAMKR, 'none', *common])
    with pytest.raises(ValueError, match=r'topdown model.*tools/topdown_demo_with_mmdet\.py'):
        _tool('bottomup_demo').main([ESAM, 'none', '--input', img, '--output-root', str(tmp_path)])
    with pytest.raises(ValueError, match='DET_CONFIG .* is an mmpose pose config'):
        prepare_det_config(ESAM, 'none')


def test_bad_config_checkpoint_and_bbox_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"POSE_CONFIG .*nope\.py' does not exist"):
        build_pose_model(str(tmp_path / 'nope.py'), 'none')
    with pytest.raises(FileNotFoundError, match='DET_CONFIG .*not found in the installed'):
        prepare_det_config('mmdet::rtmdet/no_such_config.py', 'none')
    with pytest.raises(FileNotFoundError, match=r'POSE_CHECKPOINT .*missing\.pth.*"none"'):
        build_pose_model(ESAM, str(tmp_path / 'missing.pth'))
    dets = tmp_path / 'dets.json'
    dets.write_text(json.dumps([{'image_id': 1, 'bbox': [0, 0, 5, 5]}]))
    with pytest.raises(ValueError, match=r"entry 0 lacks \['score'\]"):
        CocoDetections(str(dets))
    dets.write_text(json.dumps([{'image_id': 1, 'bbox': [0, 0, 5, 5], 'score': 1.0}]))
    with pytest.raises(ValueError, match=r'image_id of .*person\.jpg.*--ann-file'):
        CocoDetections(str(dets)).boxes('person.jpg')


def test_bottomup_demo_skeleton_style(shared_data, tmp_path):
    """--skeleton-style openpose (shared with the top-down demo) changes the drawing only (every
    keypoint drawn: random weights score low)."""
    image = shared_data / 'coco/images/000000000785.jpg'
    outs = {}
    for style in ('mmpose', 'openpose'):
        out = tmp_path / style
        torch.manual_seed(0)
        _tool('bottomup_demo').main([
            SAMKR, 'none', '--input',
            str(image), '--output-root',
            str(out), '--save-predictions', '--device', 'cpu', '--skeleton-style', style,
            '--kpt-thr', '0', *BOTTOMUP_FAST
        ])
        outs[style] = (mmcv.imread(str(out / image.name)),
                       _load_json(out / 'results_000000000785.json')['instance_info'])
    (draw_a, pred_a), (draw_b, pred_b) = outs['mmpose'], outs['openpose']
    assert pred_a == pred_b and len(pred_a) > 0
    assert draw_a.shape == draw_b.shape and (draw_a != draw_b).any()
