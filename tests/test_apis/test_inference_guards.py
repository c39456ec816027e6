"""Inputs that used to give a silently wrong answer: detection files that are not what they
claim (mmdet's label index as category, NaN scores, xyxy boxes, boxes of other images), drawings
that would overwrite the input images, a folder link back up the tree, and a config whose train
set is a dataset wrapper. Models run with random weights (checkpoint ``none``) on tiny images."""
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _demo_tools import BOTTOMUP_FAST_OPTIONS as BOTTOMUP_FAST
from _demo_tools import ESAM, SAMKR
from _demo_tools import load_tool as _tool
from mmengine.config import Config
from mmpose.apis.inference import dataset_meta_from_config

from mmpose_attn.apis import (AttnPoseInferencer, CocoDetections, DroppedDetectionsWarning,
                              SkippedInputsWarning, list_images)

torch.set_num_threads(2)

TOPDOWN_FAST = {'model.test_cfg.flip_test': False}
W, H = 48, 64  # the test images' size


def _image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (H, W, 3), np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def _det_file(path: Path, entries) -> str:
    """A detection file of ``(image_id, category_id, bbox, score)`` entries."""
    path.write_text(
        json.dumps([dict(image_id=i, category_id=c, bbox=b, score=s) for i, c, b, s in entries]))
    return str(path)


def _coco_images(folder: Path, ids=(785, 786)):
    return [_image(folder / f'{i:012d}.jpg', i) for i in ids]


def _people(inferencer, detections, folder, out):
    inferencer.detections = detections
    inferencer.run(str(folder), output_root=str(out), save_predictions=True)
    return {
        p.name: len(json.load(open(p))['instance_info'])
        for p in Path(out).glob('results_*.json')
    }


def _topdown_demo(tmp_path, det, folder, *extra):
    return _tool('topdown_demo_with_mmdet').main([
        '-', '-', ESAM, 'none', '--input',
        str(folder), '--bbox-file', det, '--output-root',
        str(tmp_path / 'demo_out'), '--device', 'cpu', *extra
    ])


# ------------------------------------------------------------------------ detection files
def test_category_id_0_is_mmdets_label_index(tmp_path):
    """Persons written with mmdet's label index 0 got no person anywhere; now refused, naming
    the file and the fix, by the API and by the demo, before a model is built."""
    _coco_images(tmp_path / 'img')
    det = _det_file(tmp_path / 'dets.json', [(785, 0, [2, 4, 20, 40], 0.9),
                                             (786, 0, [3, 5, 20, 40], 0.8),
                                             (786, 1, [1, 1, 5, 5], 0.4)])
    msg = (r"dets\.json: 2 of 3 entries have category_id 0, .*category_id 0 looks like mmdet's "
           r"label index; COCO's person is 1")
    with pytest.raises(ValueError, match=msg):
        CocoDetections(det)
    with pytest.raises(ValueError, match=msg):
        _topdown_demo(tmp_path, det, tmp_path / 'img')
    assert not (tmp_path / 'demo_out').exists()


def test_no_person_category_and_unusable_boxes_are_refused(tmp_path):
    nobody = _det_file(tmp_path / 'cars.json', [(785, 3, [2, 4, 20, 40], 0.9)])
    with pytest.raises(
            ValueError,
            match=r"cars\.json: no entry has category_id 1 \(COCO's "
            r'person\), so no image would get a person; its category_ids are \[3\]'):
        CocoDetections(nobody)
    nan = _det_file(tmp_path / 'nan.json', [(785, 1, [2, 4, 20, 40], float('nan'))] * 3)
    with pytest.raises(
            ValueError,
            match=r'nan\.json: none of its 3 person boxes is usable '
            r'\(3 score not a number \(NaN or missing\); e\.g\. entry 0\)'):
        CocoDetections(nan)
    negative = _det_file(tmp_path / 'neg.json', [(785, 1, [30, 4, -20, 40], 0.9)] * 2)
    with pytest.raises(
            ValueError,
            match=r'neg\.json: none of its 2 person boxes is usable '
            r'\(2 zero or negative width/height'):
        CocoDetections(negative)
    short = _det_file(tmp_path / 'short.json', [(785, 1, [2, 4, 20, 40], 0.9),
                                                (785, 1, [1, 2, 3], 0.9)])
    with pytest.raises(
            ValueError,
            match=r'short\.json: entry 1 \(image_id 785\) has bbox '
            r'\[1, 2, 3\] \(3 numbers\); COCO detection files give 4 numbers '
            r'\[x, y, w, h\]'):
        CocoDetections(short)


def test_defective_boxes_dropped_and_said_once_per_reason(esam, tmp_path):
    """NaN score, NaN coordinate, negative width and a box mostly outside its image are
    dropped, one warning per reason with its count; the good boxes are predicted."""
    _coco_images(tmp_path / 'img')
    det = _det_file(tmp_path / 'dets.json', [(785, 1, [2, 4, 20, 40], 0.9),
                                             (785, 1, [3, 4, 20, 40], float('nan')),
                                             (785, 1, [3, 4, 20, 40], 0.8),
                                             (785, 1, [3, 4, -20, 40], 0.8),
                                             (786, 1, [2, 4, 20, 40], 0.9),
                                             (786, 1, [40, 60, 30, 30], 0.9),
                                             (786, 1, [float('nan'), 4, 20, 40], 0.9),
                                             (786, 1, [1, 4, 20, 40], 0.9),
                                             (786, 1, [3, 4, 20, 40], 0.7)])
    with pytest.warns(DroppedDetectionsWarning) as rec:
        detections = CocoDetections(det)
    said = sorted(str(w.message) for w in rec if w.category is DroppedDetectionsWarning)
    assert len(said) == 3
    assert f'--bbox-file {det}: dropped 1 of 9 person boxes: NaN or infinite coordinates' \
        in said[0]
    assert 'dropped 1 of 9 person boxes: score not a number (NaN or missing) (e.g. entry 1' \
        in said[1]
    assert 'dropped 1 of 9 person boxes: zero or negative width/height (e.g. entry 3' in said[2]
    with pytest.warns(
            DroppedDetectionsWarning,
            match=r'dropped 1 of 6 usable person boxes of '
            r'the input images: mostly outside its image \(less than half of the '
            r'box inside\) \(e\.g\. entry 5: '
            r'bbox \[40\.0, 60\.0, 30\.0, 30\.0\] on the 48x64 image'):
        people = _people(esam, detections, tmp_path / 'img', tmp_path / 'out')
    assert people == {'results_000000000785.json': 2, 'results_000000000786.json': 3}


def test_a_few_boxes_past_the_edge_are_kept_and_said(esam, tmp_path):
    _coco_images(tmp_path / 'img', ids=(785, ))
    det = _det_file(tmp_path / 'dets.json', [(785, 1, [2, 4, 20, 40], 0.9),
                                             (785, 1, [3, 4, 20, 40], 0.8),
                                             (785, 1, [30, 4, 20, 40], 0.7)])
    with pytest.warns(
            DroppedDetectionsWarning,
            match=(
                r'dets\.json: 1 of 3 person boxes of the input images reach past their image and '
                r'are kept \(e\.g\. entry 2: bbox \[30\.0, 4\.0, 20\.0, 40\.0\] on the 48x64 image '
                r'.*\); if the file holds \[x1, y1, x2, y2\], convert it to \[x, y, w, h\]')):
        people = _people(esam, CocoDetections(det), tmp_path / 'img', tmp_path / 'out')
    assert people == {'results_000000000785.json': 3}


@pytest.mark.parametrize('layout', ['xyxy', 'scaled'])
def test_boxes_reaching_past_their_images_are_refused(esam, tmp_path, layout):
    """Boxes written as [x1, y1, x2, y2] (or 100x too large) mostly reach past their 48x64
    images: the run refuses before anything is predicted or written."""
    _coco_images(tmp_path / 'img')
    xyxy = [(785, 1, [10, 12, 44, 62], 0.9), (785, 1, [6, 8, 40, 60], 0.8),
            (786, 1, [2, 4, 20, 40], 0.9)]  # the last one also fits as xywh
    entries = xyxy if layout == 'xyxy' else [(i, c, [100 * v for v in b], s) for i, c, b, s in xyxy]
    det = _det_file(tmp_path / 'dets.json', entries)
    why = ('this looks like xyxy, COCO detection files use \\[x, y, w, h\\]: write w = x2 - x1'
           if layout == 'xyxy' else "the boxes are not in these images' pixel coordinates")
    with pytest.raises(
            ValueError,
            match=(r'dets\.json: [23] of 3 person boxes of the input images reach past their image '
                   r'\(e\.g\. entry 0, image_id 785: bbox .* on the 48x64 image '
                   r'.*000000000785\.jpg\); ' + why)):
        _people(esam, CocoDetections(det), tmp_path / 'img', tmp_path / 'out')
    assert list((tmp_path / 'out').iterdir()) == []
    with pytest.raises(ValueError, match=why):
        _topdown_demo(tmp_path, det, tmp_path / 'img')


# ------------------------------------------------------------------------ outputs and folders
def test_output_root_equal_to_input_is_refused(esam, tmp_path):
    """--output-root equal to the input folder (or the folder of an input image) would draw
    over the images: refused before anything is written, by both demos and the API."""
    images = _coco_images(tmp_path / 'img')
    before = {p: p.read_bytes() for p in images}
    det = _det_file(tmp_path / 'dets.json', [(785, 1, [2, 4, 20, 40], 0.9)])
    msg = (r"--output-root '.*img' would overwrite (2|1) input file\(s\) with the drawings "
           r"\(e\.g\. '.*000000000785\.jpg' would be drawn to '.*000000000785\.jpg', the same "
           'file')
    with pytest.raises(ValueError, match=msg):
        _topdown_demo(tmp_path, det, tmp_path / 'img', '--output-root', str(tmp_path / 'img'))
    with pytest.raises(ValueError, match=msg):
        _tool('bottomup_demo').main([
            SAMKR, 'none', '--input',
            str(images[0]), '--output-root',
            str(tmp_path / 'img'), '--device', 'cpu', '--save-predictions'
        ])
    # mmpose's call: drawings in out_dir/visualizations, which here is the input folder
    vis = tmp_path / 'out' / 'visualizations'
    moved = _image(vis / '000000000785.jpg', 785)
    esam.detections = CocoDetections(det)
    with pytest.raises(ValueError, match='would overwrite 1 input file'):
        list(esam(str(vis), out_dir=str(tmp_path / 'out')))
    assert {p: p.read_bytes() for p in images} == before
    assert sorted(os.listdir(tmp_path / 'img')) == ['000000000785.jpg', '000000000786.jpg']
    assert moved.read_bytes() == before[images[0]]


def test_folder_link_back_up_is_listed_once(tmp_path):
    """sub/up -> .. made each image repeat under sub/up/sub/up/...; each real folder is now
    read once and the skipped link is named."""
    _image(tmp_path / 'in' / 'sub' / 'a.jpg')
    _image(tmp_path / 'in' / 'b.jpg')
    os.symlink('..', tmp_path / 'in' / 'sub' / 'up')
    os.symlink(tmp_path / 'in' / 'sub', tmp_path / 'in' / 'again')
    with pytest.warns(
            SkippedInputsWarning,
            match=r"skipped 2 folder link\(s\) to a folder "
            r'already listed .*: again \(= sub\), sub/up \(= \.\)'):
        images = list_images(str(tmp_path / 'in'))
    assert images == [str(tmp_path / 'in' / 'b.jpg'), str(tmp_path / 'in' / 'sub' / 'a.jpg')]
    with pytest.warns(SkippedInputsWarning, match='sub/up'):
        written = _tool('bottomup_demo').main([
            SAMKR, 'none', '--input',
            str(tmp_path / 'in'), '--output-root',
            str(tmp_path / 'out'), '--device', 'cpu', '--save-predictions', '--cfg-options',
            *[f'{k}={v}'.replace(' ', '') for k, v in BOTTOMUP_FAST.items()]
        ])
    assert sorted(os.path.relpath(p, tmp_path / 'out') for p in written) == [
        'b.jpg', 'results_b.json', 'sub/a.jpg', 'sub/results_a.json'
    ]


# ------------------------------------------------------------------------ dataset wrappers
def _wrapped(config: str, path: Path, wrapper: str) -> str:
    """``config`` with its train set inside a dataset wrapper, saved to ``path``."""
    cfg = Config.fromfile(config)
    inner = cfg.train_dataloader.dataset
    cfg.train_dataloader.dataset = (
        dict(type='ConcatDataset', datasets=[inner, inner])
        if wrapper == 'ConcatDataset' else dict(type=wrapper, times=2, dataset=inner)
        if wrapper == 'RepeatDataset' else dict(type=wrapper, oversample_thr=0.5, dataset=inner))
    cfg.dump(str(path))
    return str(path)


@pytest.mark.parametrize('wrapper', ['RepeatDataset', 'ConcatDataset', 'ClassBalancedDataset'])
def test_dataset_wrapper_config_gets_its_dataset_meta(tmp_path, wrapper):
    """A train set inside a dataset wrapper and checkpoint none: the metainfo is found through
    the wrapper (it was "'BottomupPoseEstimator' object has no attribute 'dataset_meta'")."""
    config = _wrapped(SAMKR, tmp_path / 'wrapped.py', wrapper)
    expected = dataset_meta_from_config(Config.fromfile(SAMKR), dataset_mode='train')
    with pytest.warns(UserWarning):
        inferencer = AttnPoseInferencer(
            config, 'none', device='cpu', cfg_options=BOTTOMUP_FAST, expect='bottomup')
    meta = inferencer.model.dataset_meta
    assert meta['dataset_name'] == expected['dataset_name'] == 'coco'
    assert meta['num_keypoints'] == 17
    assert np.array_equal(meta['flip_indices'], expected['flip_indices'])
    if wrapper == 'RepeatDataset':
        _image(tmp_path / 'in' / 'a.jpg')
        written = _tool('bottomup_demo').main([
            config, 'none', '--input',
            str(tmp_path / 'in'), '--output-root',
            str(tmp_path / 'out'), '--device', 'cpu', '--save-predictions', '--cfg-options',
            *[f'{k}={v}'.replace(' ', '') for k, v in BOTTOMUP_FAST.items()]
        ])
        result = json.loads((tmp_path / 'out' / 'results_a.json').read_text())
        assert len(written) == 2 and result['meta_info']['dataset_name'] == 'coco'


def test_topdown_wrapper_and_config_without_metainfo(tmp_path):
    config = _wrapped(ESAM, tmp_path / 'wrapped.py', 'RepeatDataset')
    with pytest.warns(UserWarning):
        model = AttnPoseInferencer(
            config,
            'none',
            device='cpu',
            cfg_options=TOPDOWN_FAST,
            expect='topdown',
            detections=CocoDetections(_det_file(tmp_path / 'd.json', []))).model
    assert model.dataset_meta['num_keypoints'] == 17
    cfg = Config.fromfile(ESAM)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg.pop(key)
    cfg.dump(str(tmp_path / 'bare.py'))
    with pytest.raises(
            ValueError,
            match=r'bare\.py: no dataset metainfo .* Give the dataset a '
            r"metainfo, e\.g\. metainfo=dict\(from_file="):
        AttnPoseInferencer(
            str(tmp_path / 'bare.py'),
            'none',
            device='cpu',
            detections=CocoDetections(str(tmp_path / 'd.json')))


def test_output_folder_inside_the_input_folder_is_not_read_again(tmp_path):
    """--output-root images/vis: a second run does not predict the first run's drawings."""
    _image(tmp_path / 'img' / 'a.jpg')
    args = [
        SAMKR, 'none', '--input',
        str(tmp_path / 'img'), '--output-root',
        str(tmp_path / 'img' / 'vis'), '--device', 'cpu', '--save-predictions', '--cfg-options',
        *[f'{k}={v}'.replace(' ', '') for k, v in BOTTOMUP_FAST.items()]
    ]
    first = _tool('bottomup_demo').main(args)
    assert sorted(os.path.relpath(p, tmp_path / 'img')
                  for p in first) == ['vis/a.jpg', 'vis/results_a.json']
    with pytest.warns(
            SkippedInputsWarning,
            match=r"left out 1 image\(s\) under the output "
            r'folder inside it \(.*vis/a\.jpg, \.\.\.\)'):
        second = _tool('bottomup_demo').main(args)
    assert second == first
