"""The demos on the inputs people have: detection files matched to images in the layouts of
PoseTrack18, JHMDB and HumanArt (small datasets written here), unreadable images in a folder,
images whose names differ only by extension, the device default, and another model's
checkpoint. Models run with random weights (checkpoint ``none``) on tiny images."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _demo_tools import BOTTOMUP_FAST_OPTIONS as BOTTOMUP_FAST
from _demo_tools import ESAM, SAMKR
from _demo_tools import load_tool as _tool

from mmpose_attn.apis import (AttnPoseInferencer, CocoDetections, FileNameIdsWarning,
                              NoDetectionsWarning, SkippedInputsWarning, resolve_device,
                              result_names)

torch.set_num_threads(2)

TOPDOWN_FAST = {'model.test_cfg.flip_test': False}


def _image(path: Path, seed: int, size=(48, 64)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (*size, 3), np.uint8)
    assert cv2.imwrite(str(path), img)


def _dataset(root: Path, file_names, ids, boxes_per_id):
    """Images at root/<file_name>, an annotation json listing them, a detection file with
    ``boxes_per_id[id]`` boxes (distinct x) per id; returns (ann_file, det_file)."""
    for i, name in enumerate(file_names):
        _image(root / name, i)
    ann = root / 'ann.json'
    ann.write_text(
        json.dumps(
            dict(
                images=[
                    dict(id=i, file_name=n, width=48, height=64) for n, i in zip(file_names, ids)
                ],
                annotations=[],
                categories=[dict(id=1, name='person')])))
    dets = [
        dict(image_id=i, category_id=1, bbox=[2 + k, 4, 20, 40], score=0.9)
        for i, n in boxes_per_id.items() for k in range(n)
    ]
    det = root / 'dets.json'
    det.write_text(json.dumps(dets))
    return str(ann), str(det)


def _run(inferencer, detections, folder, out, **kwargs):
    inferencer.detections = detections
    inferencer.run(str(folder), output_root=str(out), save_predictions=True, **kwargs)
    return {p.name: json.load(open(p))['instance_info'] for p in out.glob('results_*.json')}


# -------------------------------------------------------------------- detection-file matching
@pytest.mark.parametrize('layout', ['posetrack18', 'jhmdb'])
def test_bbox_file_repeated_names_in_nested_folders(esam, tmp_path, layout):
    """The same file name in two videos: with --ann-file each frame gets its own video's boxes
    (matched by the relative file_name); without it the run stops and asks for --ann-file."""
    if layout == 'posetrack18':
        names = [
            'images/val/000342_mpii/000000.jpg', 'images/val/000522_mpii/000000.jpg',
            'images/val/000522_mpii/000001.jpg'
        ]
        ids = [10003420000, 10005220000, 10005220001]
    else:
        names = [
            'brush_hair/clip_a/00001.png', 'brush_hair/clip_b/00001.png',
            'brush_hair/clip_b/00002.png'
        ]
        ids = [101, 201, 202]
    ann, det = _dataset(tmp_path / 'data', names, ids, {ids[0]: 3, ids[1]: 2, ids[2]: 1})
    video_b = (tmp_path / 'data' / names[1]).parent
    stem = Path(names[1]).stem
    results = _run(esam, CocoDetections(det, ann), video_b, tmp_path / 'out')
    assert sorted(results) == [f'results_{Path(n).stem}.json' for n in names[1:]]
    # video b's first frame: its 2 boxes, not video a's 3
    assert [inst['bbox'][0][0] for inst in results[f'results_{stem}.json']] == [2, 3]
    assert len(results[f'results_{Path(names[2]).stem}.json']) == 1

    with pytest.raises(ValueError, match=r'none of the 2 input images.*Pass --ann-file'):
        _run(esam, CocoDetections(det), video_b, tmp_path / 'out2')
    assert not (tmp_path / 'out2').exists() or not list((tmp_path / 'out2').iterdir())


def test_bbox_file_ambiguous_relative_path_is_an_error(esam, tmp_path):
    """Frames copied out of their video folders cannot be told apart by --ann-file: an error
    naming both candidates, nothing written."""
    names = ['vid_a/00001.png', 'vid_b/00001.png']
    ann, det = _dataset(tmp_path / 'data', names, [1, 2], {1: 1, 2: 2})
    _image(tmp_path / 'flat' / '00001.png', 0)
    with pytest.raises(
            ValueError,
            match=r'matches several --ann-file images equally '
            r'\(vid_a/00001\.png, vid_b/00001\.png\)'):
        _run(esam, CocoDetections(det, ann), tmp_path / 'flat', tmp_path / 'out')
    assert not list((tmp_path / 'out').iterdir())


def test_bbox_file_number_names_that_are_not_ids(esam, tmp_path):
    """HumanArt: 000000000590.jpg is image_id 15000000000590. With --ann-file: its boxes;
    without: a clear error instead of 0 people on every image."""
    names = ['real_human/dance/000000000590.jpg', 'real_human/dance/000000000591.jpg']
    ids = [15000000000590, 15000000000591]
    ann, det = _dataset(tmp_path / 'data', names, ids, {ids[0]: 2, ids[1]: 1})
    folder = tmp_path / 'data/real_human/dance'
    results = _run(esam, CocoDetections(det, ann), folder, tmp_path / 'out')
    assert {
        k: len(v)
        for k, v in results.items()
    } == {
        'results_000000000590.json': 2,
        'results_000000000591.json': 1
    }
    with pytest.raises(
            ValueError,
            match=r'e\.g\. 590 from .*000000000590\.jpg.*'
            r'15000000000590.*Pass --ann-file'):
        _run(esam, CocoDetections(det), folder, tmp_path / 'out2')


def test_bbox_file_numbered_names_outside_coco_layout_are_not_guessed(esam, tmp_path):
    """OCHuman: 000817.jpg is not image 817 (ids run 1..N); the file holds ids 1 and 817 both.
    Without --ann-file the run stops and asks for it (it used to take image 817's boxes);
    with it each image gets its own boxes."""
    names = ['images/000817.jpg', 'images/000818.jpg']
    ann, det = _dataset(tmp_path / 'data', names, [1, 2], {1: 1, 2: 1, 817: 3, 818: 2})
    folder = tmp_path / 'data/images'
    with pytest.raises(
            ValueError, match=r"such as '000817\.jpg' is its image_id.*OCHuman.*"
            r'Pass --ann-file'):
        _run(esam, CocoDetections(det), folder, tmp_path / 'out')
    assert not list((tmp_path / 'out').iterdir())
    results = _run(esam, CocoDetections(det, ann), folder, tmp_path / 'out2')
    assert {
        k: len(v)
        for k, v in results.items()
    } == {
        'results_000817.json': 1,
        'results_000818.json': 1
    }


def test_bbox_file_coco_names_are_read_as_ids_and_said_once(esam, tmp_path):
    """COCO's 12-digit names are read as ids without --ann-file, and the run says so once,
    with the mapping seen (a second run with the same file says nothing new)."""
    names = ['val/000000000785.jpg', 'val/000000000786.jpg']
    _, det = _dataset(tmp_path / 'data', names, [785, 786], {785: 2, 786: 1})
    detections = CocoDetections(det)
    with pytest.warns(
            FileNameIdsWarning,
            match=r"read from the file names.*'000000000785\.jpg' "
            r'-> image_id 785; 2 of 2 input images have entries.*--ann-file') as rec:
        results = _run(esam, detections, tmp_path / 'data/val', tmp_path / 'out')
    assert len([w for w in rec if w.category is FileNameIdsWarning]) == 1
    assert {
        k: len(v)
        for k, v in results.items()
    } == {
        'results_000000000785.json': 2,
        'results_000000000786.json': 1
    }
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error', FileNameIdsWarning)
        _run(esam, detections, tmp_path / 'data/val', tmp_path / 'out3')


def test_images_without_detections_are_reported(esam, tmp_path):
    """An image listed in --ann-file with no entry in the detection file gets no person, and
    the run says so (one line per image and a summary naming it)."""
    names = ['a/000000000001.jpg', 'a/000000000002.jpg']
    ann, det = _dataset(tmp_path / 'data', names, [1, 2], {1: 1})
    with pytest.warns(
            NoDetectionsWarning,
            match=r'1 input image\(s\) have no entry in '
            r'--bbox-file .*dets\.json.*000000000002\.jpg'):
        results = _run(esam, CocoDetections(det, ann), tmp_path / 'data/a', tmp_path / 'out')
    assert {
        k: len(v)
        for k, v in results.items()
    } == {
        'results_000000000001.json': 1,
        'results_000000000002.json': 0
    }
    assert esam.no_detections == [str(tmp_path / 'data/a/000000000002.jpg')]


# ------------------------------------------------------------------------ malformed inputs
@pytest.fixture(scope='module')
def samkr():
    torch.manual_seed(0)
    with pytest.warns(UserWarning):
        return AttnPoseInferencer(
            SAMKR, 'none', device='cpu', cfg_options=BOTTOMUP_FAST, expect='bottomup')


def _bad_images(folder: Path) -> None:
    (folder / 'b_empty.jpg').write_bytes(b'')
    good = (folder / 'a.jpg').read_bytes()
    (folder / 'c_truncated.jpg').write_bytes(good[:len(good) // 3])


@pytest.mark.parametrize('demo', ['bottomup', 'topdown'])
def test_bad_images_in_a_folder_are_skipped(samkr, esam, tmp_path, demo):
    """A 0-byte file and a truncated JPEG among good images: the good ones are predicted and
    written, the bad ones named at the end; --strict stops at the first."""
    folder = tmp_path / 'imgs'
    _image(folder / 'a.jpg', 0)
    _image(folder / 'd.jpg', 1)
    _bad_images(folder)
    if demo == 'bottomup':
        inferencer, kwargs = samkr, dict(batch_size=2)
    else:
        names = ['a.jpg', 'b_empty.jpg', 'c_truncated.jpg', 'd.jpg']
        ann, det = _dataset(tmp_path / 'unused', names, [1, 2, 3, 4], {1: 1, 4: 1})
        inferencer, kwargs = esam, {}
        inferencer.detections = CocoDetections(det, ann)
    out = tmp_path / 'out'
    with pytest.warns(
            SkippedInputsWarning,
            match=r'skipped 2 unreadable input\(s\).*'
            r'b_empty\.jpg.*c_truncated\.jpg'):
        written = inferencer.run(str(folder), output_root=str(out), save_predictions=True, **kwargs)
    assert sorted(Path(p).name
                  for p in written) == ['a.jpg', 'd.jpg', 'results_a.json', 'results_d.json']
    assert [Path(p).name for p, _ in inferencer.skipped] == ['b_empty.jpg', 'c_truncated.jpg']
    with pytest.raises(ValueError, match=r'cannot read image .*b_empty\.jpg'):
        inferencer.run(str(folder), output_root=str(tmp_path / 'strict'), strict=True, **kwargs)


def test_bottomup_demo_skips_and_runs_with_default_device(tmp_path):
    """The CLI without --device on this machine, a bad image in the folder."""
    folder = tmp_path / 'imgs'
    _image(folder / 'a.jpg', 0)
    _bad_images(folder)
    out = tmp_path / 'out'
    with pytest.warns(SkippedInputsWarning, match='b_empty.jpg'):
        written = _tool('bottomup_demo').main([
            SAMKR, 'none', '--input',
            str(folder), '--output-root',
            str(out), '--save-predictions', '--cfg-options', 'model.test_cfg.flip_test=False',
            'test_dataloader.dataset.pipeline.1.input_size=(64,64)'
        ])
    assert sorted(Path(p).name for p in written) == ['a.jpg', 'results_a.json']
    with pytest.raises(ValueError, match=r'cannot read image .*b_empty\.jpg'):
        _tool('bottomup_demo').main([
            SAMKR, 'none', '--input',
            str(folder), '--output-root',
            str(tmp_path / 'o2'), '--strict', '--device', 'cpu'
        ])


def test_same_stem_does_not_overwrite(samkr, tmp_path):
    """x.jpg and x.png: two result files (x.jpg's and x.png's own predictions); y.jpg keeps
    today's name."""
    folder = tmp_path / 'imgs'
    _image(folder / 'x.jpg', 0, (64, 64))
    _image(folder / 'x.png', 1, (64, 96))
    _image(folder / 'y.jpg', 2, (64, 64))
    assert result_names([str(folder / n) for n in ('x.jpg', 'x.png', 'y.jpg')]) == {
        str(folder / 'x.jpg'): 'results_x.jpg.json',
        str(folder / 'x.png'): 'results_x.png.json',
        str(folder / 'y.jpg'): 'results_y.json'
    }
    out = tmp_path / 'out'
    samkr.run(str(folder), output_root=str(out), save_predictions=True)
    assert sorted(p.name for p in out.iterdir()) == [
        'results_x.jpg.json', 'results_x.png.json', 'results_y.json', 'x.jpg', 'x.png', 'y.jpg'
    ]
    for name in ('x.jpg', 'x.png'):
        (expected, ) = next(samkr(str(folder / name)))['predictions']
        got = json.load(open(out / f'results_{name}.json'))['instance_info']
        np.testing.assert_allclose([i['keypoints'] for i in got],
                                   [i['keypoints'] for i in expected],
                                   atol=1e-4)


def test_folder_tree_keeps_relative_paths(samkr, tmp_path):
    """PoseTrack-style videos as folders of frames with the same names under one --input: every
    frame is predicted, and its drawing and results keep the path relative to the input."""
    root = tmp_path / 'images' / 'val'
    frames = ['000342_mpii/000000.jpg', '000342_mpii/000001.jpg', '000522_mpii/000000.jpg']
    for i, rel in enumerate(frames):
        _image(root / rel, i, (64, 64))
    (root / '000522_mpii' / 'notes.txt').write_text('not an image')
    out = tmp_path / 'out'
    written = samkr.run(str(root), output_root=str(out), save_predictions=True)
    rels = [
        '000342_mpii/000000.jpg', '000342_mpii/000001.jpg', '000342_mpii/results_000000.json',
        '000342_mpii/results_000001.json', '000522_mpii/000000.jpg',
        '000522_mpii/results_000000.json'
    ]
    assert sorted(str(p.relative_to(out)) for p in out.rglob('*') if p.is_file()) == rels
    assert sorted(str(Path(p).relative_to(out)) for p in written) == rels
    for video in ('000342_mpii', '000522_mpii'):  # each video's frame has its own predictions
        (expected, ) = next(samkr(str(root / video / '000000.jpg')))['predictions']
        got = json.load(open(out / video / 'results_000000.json'))['instance_info']
        np.testing.assert_allclose([i['keypoints'] for i in got],
                                   [i['keypoints'] for i in expected],
                                   atol=1e-4)
    assert result_names(
        [str(root / '000342_mpii/000000.jpg'),
         str(root / '000522_mpii/000000.jpg')], str(root)) == {
             str(root / '000342_mpii/000000.jpg'): '000342_mpii/results_000000.json',
             str(root / '000522_mpii/000000.jpg'): '000522_mpii/results_000000.json'
         }
    (tmp_path / 'no_images' / 'sub').mkdir(parents=True)
    with pytest.raises(ValueError, match='contains no image files.*nor in its subfolders'):
        samkr.run(str(tmp_path / 'no_images'), output_root=str(tmp_path / 'o2'))


def test_api_without_boxes_names_its_keywords():
    with pytest.raises(ValueError, match=r'pass det_model .* or detections'):
        with pytest.warns(UserWarning):
            AttnPoseInferencer(ESAM, 'none', device='cpu', expect='topdown')


# ---------------------------------------------------------------------------------- device
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks a machine without CUDA')
def test_device_default_and_missing_cuda(tmp_path):
    assert resolve_device(None) == 'cpu'
    _image(tmp_path / 'a.jpg', 0)
    # the device is checked before the checkpoint is even looked at (so before building)
    with pytest.raises(
            RuntimeError, match=r'--device cuda:0: CUDA is not available.*'
            r'--device cpu'):
        _tool('bottomup_demo').main([
            SAMKR,
            str(tmp_path / 'missing.pth'), '--input',
            str(tmp_path / 'a.jpg'), '--output-root',
            str(tmp_path), '--device', 'cuda:0'
        ])


# ------------------------------------------------------------------------------ checkpoint
def test_another_models_checkpoint_is_refused(tmp_path):
    """SAMKR config + an ESAM checkpoint: the demo stops with what matched and what did not,
    before writing anything."""
    from mmengine.runner import save_checkpoint

    from mmpose_attn.apis import build_pose_model
    from mmpose_attn.engine.checkpoint_fit import CheckpointMismatchError
    esam = build_pose_model(ESAM, 'none', device='cpu')
    ckpt = tmp_path / 'esam.pth'
    save_checkpoint({'state_dict': esam.state_dict(), 'meta': {}}, str(ckpt))
    _image(tmp_path / 'imgs' / 'a.jpg', 0)
    out = tmp_path / 'out'
    with pytest.raises(
            CheckpointMismatchError,
            match=r'(?s)esam\.pth into MultiScaleBottomupPoseEstimator: \d+ of \d+ '
            r'model tensors loaded.*shape-mismatched.*unexpected.*allow_partial_load'):
        _tool('bottomup_demo').main([
            SAMKR,
            str(ckpt), '--input',
            str(tmp_path / 'imgs'), '--output-root',
            str(out), '--save-predictions', '--device', 'cpu'
        ])
    assert not out.exists()


# ------------------------------------------------------------------- bottom-up thresholds
RTMO = 'mmpose::body_2d_keypoint/rtmo/coco/rtmo-s_8xb32-600e_coco-640x640.py'
RTMO_SMALL = {
    'test_dataloader.dataset.pipeline.1.input_size': (160, 160),
    'model.test_cfg.input_size': (160, 160)
}
SAMKR_SYNTH = str(
    Path(ESAM).parents[3] / 'configs/synthetic/'
    'samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py')


def _predict(inferencer, img, **kwargs):
    (sample, ) = next(inferencer(str(img), return_datasamples=True, **kwargs))['predictions']
    return sample.pred_instances


def test_rtmo_thresholds_reach_the_head_as_in_mmpose(tmp_path):
    """RTMO with bbox_thr=0.6 used to keep people scoring 0.1 (the config's score_thr); now the
    head gets score_thr/nms_thr and the predictions equal mmpose's Pose2DInferencer's."""
    from mmengine.runner import save_checkpoint
    from mmpose.apis.inferencers import Pose2DInferencer

    from mmpose_attn.utils import load_config
    torch.manual_seed(0)
    with pytest.warns(UserWarning):
        model = AttnPoseInferencer(RTMO, 'none', device='cpu', cfg_options=RTMO_SMALL).model
    for conv in model.head.head_module.out_cls:  # random weights with scores spread over (0, 1)
        torch.nn.init.normal_(conv.weight, std=2e-5)  # its input features are ~1e4
        torch.nn.init.zeros_(conv.bias)
    ckpt = str(tmp_path / 'rtmo.pth')
    save_checkpoint({
        'state_dict': model.state_dict(),
        'meta': {
            'dataset_meta': model.dataset_meta
        }
    }, ckpt)
    ours = AttnPoseInferencer(RTMO, ckpt, device='cpu', cfg_options=RTMO_SMALL)
    cfg = load_config(RTMO)
    cfg.merge_from_dict(RTMO_SMALL)
    theirs = Pose2DInferencer(cfg, ckpt, device='cpu')
    _image(tmp_path / 'a.jpg', 0, (160, 160))

    low = _predict(ours, tmp_path / 'a.jpg', bbox_thr=0.1)
    assert ((low.bbox_scores > 0.1) & (low.bbox_scores <= 0.6)).any()  # what 0.6 must drop
    for kwargs in (dict(bbox_thr=0.6, nms_thr=0.5), dict(bbox_thr=0.4)):
        got, ref = _predict(ours, tmp_path / 'a.jpg', **kwargs), \
            _predict(theirs, tmp_path / 'a.jpg', **kwargs)
        assert ours.model.test_cfg['score_thr'] == kwargs['bbox_thr']
        assert ours.model.test_cfg['nms_thr'] == kwargs.get('nms_thr', 0.3)
        assert 0 < len(got) == len(ref) < len(low)
        assert (got.bbox_scores > kwargs['bbox_thr']).all()
        np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-4)
        np.testing.assert_allclose(got.bbox_scores, ref.bbox_scores, atol=1e-6)


def test_samkr_bbox_thr_and_pose_nms_act_on_mean_keypoint_score(tmp_path):
    """SAMKR predicts no bbox_scores: bbox_thr keeps the people whose mean keypoint score is
    above it, and pose_based_nms runs mmpose's nearby_joints_nms with that score (here with
    the head's own pose NMS off, so that there are overlapping people to remove)."""
    from mmpose.evaluation.functional import nearby_joints_nms
    torch.manual_seed(0)
    with pytest.warns(UserWarning):
        # fp32: the test edits the head's layers, which bf16 runs through a copy of
        samkr = AttnPoseInferencer(
            SAMKR_SYNTH,
            'none',
            device='cpu',
            precision='fp32',
            cfg_options={
                'model.test_cfg.flip_test': False,
                'model.test_cfg.nms_dist_thr': 0.0
            },
            expect='bottomup')
    with torch.no_grad():  # random weights with positive scores (heatmaps about 0.5)
        samkr.model.head.heatmap_conv_layers[2].bias.fill_(0.5)
    _image(tmp_path / 'a.jpg', 0, (256, 256))
    everyone = _predict(samkr, tmp_path / 'a.jpg')
    assert 'bbox_scores' not in everyone and len(everyone) > 3
    score = everyone.keypoint_scores.mean(-1)
    thr = float(np.median(score))
    kept = _predict(samkr, tmp_path / 'a.jpg', bbox_thr=thr)
    assert 0 < len(kept) < len(everyone)
    np.testing.assert_array_equal(kept.keypoints, everyone.keypoints[score > thr])

    nms = _predict(samkr, tmp_path / 'a.jpg', pose_based_nms=True)
    keep = nearby_joints_nms(
        [dict(keypoints=k, score=s) for k, s in zip(everyone.keypoints, score)],
        num_nearby_joints_thr=17 // 3)
    np.testing.assert_array_equal(nms.keypoints, everyone.keypoints[np.sort(keep)])

    # each person and a copy 0.01 px away: the NMS keeps, of each pair, the one whose mean
    # keypoint score is higher
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    from mmpose_attn.apis.inferencer import filter_instances
    people = InstanceData(
        keypoints=everyone.keypoints[keep], keypoint_scores=everyone.keypoint_scores[keep])
    copies = InstanceData(
        keypoints=people.keypoints + 0.01,
        keypoint_scores=people.keypoint_scores +
        np.where(np.arange(len(people)) % 2, 0.1, -0.1)[:, None])
    sample = PoseDataSample(pred_instances=InstanceData.cat([people, copies]))
    kept = filter_instances(sample, pose_based_nms=True).pred_instances
    odd = np.arange(len(people)) % 2 == 1
    np.testing.assert_array_equal(kept.keypoints,
                                  np.concatenate([people.keypoints[~odd], copies.keypoints[odd]]))
