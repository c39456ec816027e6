"""The data check runs before mmpose parses the annotations and before any iteration, catches what
the evaluator will need, and accepts files that mmpose reads fine (more keypoint names than the
metainfo)."""
import json
import os
import shutil
from pathlib import Path

import pytest
from _tiny_train import TINY_CONFIG, session_root
from mmengine.config import Config
from mmengine.runner import Runner
from mmpose.registry import DATASETS

import mmpose_attn  # noqa: F401  (registers the datasets and the hook)
from mmpose_attn.datasets import DatasetValidationError, validate_coco_annotations
from mmpose_attn.datasets.validate import check_coco_metric_fields

# HumanArt's category: the 17 COCO names followed by four more; its keypoint arrays hold 17.
HUMANART_NAMES = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
    'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle', 'left_finger', 'right_finger', 'left_toe',
    'right_toe'
]


@pytest.fixture
def data(tmp_path) -> Path:
    """A private copy of the tiny synthetic COCO-style dataset (17 keypoints), free to be broken."""
    root = tmp_path / 'data'
    shutil.copytree(session_root() / 'data', root)
    return root


def _edit(path: Path, fn) -> None:
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


def _drop_area(d):
    for a in d['annotations']:
        a.pop('area')


def _runner(root: Path, tmp_path: Path, **options) -> Runner:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('MMPOSE_ATTN_TINY_DATA', str(root) + os.sep)
        cfg = Config.fromfile(str(TINY_CONFIG))
    # no deterministic mode in the pytest process; one epoch is enough for what is checked here
    cfg.merge_from_dict({
        'randomness': dict(seed=0),
        'work_dir': str(tmp_path / 'work'),
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        **options
    })
    return Runner.from_cfg(cfg)


def _dataset_cfg(root: Path, type_='ValidatedCocoDataset', **kwargs) -> dict:
    return dict(
        type=type_,
        data_root=str(root),
        data_mode='topdown',
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        pipeline=[],
        **kwargs)


# --- what the evaluator needs: caught before the first iteration -------------------------------


def test_missing_area_stops_training_before_the_first_iteration(data, tmp_path):
    """The val evaluator (CocoMetric, use_area=True) would die after a whole val pass."""
    _edit(data / 'annotations' / 'val.json', _drop_area)
    runner = _runner(data, tmp_path)
    with pytest.raises(DatasetValidationError) as e:
        runner.train()
    msg = str(e.value)
    assert msg.startswith(str(data / 'annotations' / 'val.json') + ': annotations[*].area: ')
    assert 'missing in 9 of 9 annotations' in msg and 'val_evaluator (CocoMetric)' in msg
    assert 'Fix: add "area"' in msg and 'set use_area=False in val_evaluator' in msg
    assert runner.iter == 0
    assert not list((tmp_path / 'work').rglob('*.pth'))


def test_missing_area_stops_testing_before_inference(data, tmp_path):
    """What ``mim test`` runs (Runner.test): the error comes before one image is predicted."""
    _edit(data / 'annotations' / 'val.json', _drop_area)
    runner = _runner(data, tmp_path)
    with pytest.raises(
            DatasetValidationError,
            match=r"test_evaluator \(CocoMetric\) has "
            r"use_area=True.*KeyError: 'area'"):
        runner.test()
    assert runner.test_loop.evaluator.metrics[0].results == []  # nothing was predicted


def test_missing_area_is_fine_with_use_area_false(data, tmp_path):
    _edit(data / 'annotations' / 'val.json', _drop_area)
    runner = _runner(
        data,
        tmp_path,
        test_evaluator=dict(
            type='CocoMetric', ann_file=str(data / 'annotations' / 'val.json'), use_area=False))
    metrics = runner.test()
    assert set(metrics) >= {'coco/AP', 'coco/AR'}
    assert len(runner.test_loop.dataloader.dataset) == 9  # all 9 people evaluated


def test_metric_without_ann_file_checks_the_dataset_file(data, tmp_path):
    """CocoMetric(ann_file=None) builds the ground truth from the dataset: same need for area."""
    _edit(data / 'annotations' / 'val.json', _drop_area)
    runner = _runner(data, tmp_path, test_evaluator=dict(type='CocoMetric', ann_file=None))
    with pytest.raises(
            DatasetValidationError, match=r'val\.json: annotations\[\*\]\.area: missing'):
        runner.test()


def test_crowd_evaluation_needs_num_keypoints(data, tmp_path):
    """iou_type='keypoints_crowd' reads each person's num_keypoints and each image's crowdIndex."""

    def drop(d):
        d['annotations'][2].pop('num_keypoints')

    _edit(data / 'annotations' / 'val.json', drop)
    runner = _runner(
        data,
        tmp_path,
        test_evaluator=dict(
            type='CocoMetric',
            ann_file=str(data / 'annotations' / 'val.json'),
            iou_type='keypoints_crowd'))
    with pytest.raises(DatasetValidationError) as e:
        runner.test()
    assert 'annotations[*].num_keypoints: missing in 1 of 9 annotations' in str(e.value)
    assert 'annotations[2] (id=' in str(e.value)


def test_real_crowdpose_sample_evaluation_fields(shared_data):
    """The real CrowdPose file has no area: fine for its config (use_area=False), else caught."""
    ann = str(shared_data / 'crowdpose' / 'annotations' / 'test_crowdpose.json')
    summary = validate_coco_annotations(
        ann, str(shared_data / 'crowdpose' / 'images'), num_keypoints=14)
    check_coco_metric_fields(
        summary, ann, 'test_evaluator (CocoMetric)', use_area=False, iou_type='keypoints_crowd')
    with pytest.raises(DatasetValidationError, match='missing in 5 of 5 annotations'):
        check_coco_metric_fields(
            summary, ann, 'test_evaluator (CocoMetric)', use_area=True, iou_type='keypoints_crowd')
    ds = DATASETS.build(
        dict(
            type='ValidatedCrowdPoseDataset',
            data_root=str(shared_data / 'crowdpose'),
            ann_file='annotations/test_crowdpose.json',
            data_mode='bottomup',
            data_prefix=dict(img='images/'),
            pipeline=[]))
    assert len(ds) == 2 and ds.metainfo['num_keypoints'] == 14


# --- valid data that must not be rejected ------------------------------------------------------


def _humanart_style(d):
    d['categories'][0]['keypoints'] = list(HUMANART_NAMES)


def test_more_category_names_than_metainfo_is_accepted_and_evaluated(data, tmp_path):
    """A HumanArt-style file (21 names, 17-keypoint arrays) gives the COCO file's numbers."""
    reference = _runner(data, tmp_path / 'coco').test()
    for split in ('train', 'val'):
        _edit(data / 'annotations' / f'{split}.json', _humanart_style)
    summary = validate_coco_annotations(str(data / 'annotations' / 'val.json'), num_keypoints=17)
    assert summary['num_keypoints'] == 17
    assert validate_coco_annotations(str(data / 'annotations' / 'val.json'))['num_keypoints'] == 17
    metrics = _runner(data, tmp_path / 'humanart').test()
    assert metrics == reference


def test_crowdpose_dataset_accepts_14_keypoints_and_rejects_17(tmp_path):
    from mmpose_attn.datasets.synthetic import make_dataset
    root = tmp_path / 'cp'
    make_dataset(str(root), dataset='crowdpose', train_images=2, val_images=0, seed=0)
    ds = DATASETS.build(_dataset_cfg(root, 'ValidatedCrowdPoseDataset'))
    assert ds.metainfo['num_keypoints'] == 14 and ds.validation_summary['num_keypoints'] == 14
    _edit(root / 'annotations' / 'train.json',
          lambda d: d['annotations'][0].update(keypoints=[0] * 51))
    with pytest.raises(DatasetValidationError, match=r'expected 3 \* 14 = 42 values.*has 51'):
        DATASETS.build(_dataset_cfg(root, 'ValidatedCrowdPoseDataset'))


# --- malformed files: one clear error before mmpose parses -------------------------------------


def _expect_clear_error(root: Path, field: str, *fragments: str) -> str:
    with pytest.raises(DatasetValidationError) as e:
        DATASETS.build(_dataset_cfg(root))
    msg = str(e.value)
    assert msg.startswith(f'{root / "annotations" / "train.json"}: {field}: '), msg
    assert '\n  Fix: ' in msg
    for fragment in fragments:
        assert fragment in msg
    return msg


def test_truncated_json(data):
    ann = data / 'annotations' / 'train.json'
    ann.write_text(ann.read_text()[:700])
    _expect_clear_error(data, '(whole file)', 'not valid JSON', 'download or export it again')
    with pytest.raises(json.JSONDecodeError) as e:  # stock mmpose: no file name
        DATASETS.build(_dataset_cfg(data, 'CocoDataset'))
    assert str(ann) not in str(e.value)


def test_image_without_file_name(data):
    _edit(data / 'annotations' / 'train.json', lambda d: d['images'][3].pop('file_name'))
    _expect_clear_error(data, 'images[*].file_name', 'missing: images[3] (id=4)',
                        'relative to data_prefix.img')
    with pytest.raises(KeyError, match='file_name'):  # stock mmpose
        DATASETS.build(_dataset_cfg(data, 'CocoDataset'))


def test_keypoints_not_a_multiple_of_three(data):
    _edit(data / 'annotations' / 'train.json',
          lambda d: d['annotations'][4].update(keypoints=d['annotations'][4]['keypoints'][:50]))
    _expect_clear_error(data, 'annotations[*].keypoints', 'not a multiple of 3',
                        'annotations[4] (id=5) has 50', 'x, y and v')
    with pytest.raises(ValueError, match='reshape'):  # stock mmpose: numpy's reshape error
        DATASETS.build(_dataset_cfg(data, 'CocoDataset'))


def test_annotation_without_bbox_is_not_dropped_silently(data):
    _edit(data / 'annotations' / 'train.json', lambda d: d['annotations'][6].pop('bbox'))
    _expect_clear_error(data, 'annotations[*].bbox', 'silently drop', 'annotations[6] (id=7)',
                        '"bbox": [x, y, width, height]')
    # stock mmpose: one of the 16 people is gone, without a word
    assert len(DATASETS.build(_dataset_cfg(data, 'CocoDataset'))) == 15


def test_image_without_size(data):
    _edit(data / 'annotations' / 'train.json', lambda d: d['images'][0].pop('height'))
    _expect_clear_error(data, 'images[*].height', 'missing: images[0] (id=1)')


def test_repeated_image_id(data):
    _edit(data / 'annotations' / 'train.json', lambda d: d['images'][1].update(id=1))
    _expect_clear_error(data, 'images[*].id', 'not unique: id=1 (2 entries)')


def test_detection_boxes_mode_accepts_an_image_list(data, tmp_path):
    """With a bbox_file the annotation file only has to list the images (e.g. COCO test-dev)."""
    _edit(data / 'annotations' / 'train.json', lambda d: d.pop('annotations'))
    dets = tmp_path / 'dets.json'
    dets.write_text(json.dumps([dict(image_id=1, category_id=1, bbox=[10, 10, 50, 80], score=0.9)]))
    ds = DATASETS.build(_dataset_cfg(data, bbox_file=str(dets), test_mode=True))
    assert len(ds) == 1


# --- images that decode but are garbled ----------------------------------------------------------
def _garble_scan(path: Path, seed: int) -> None:
    """400 scrambled bytes a third into the JPEG's entropy-coded data (the file stays complete)."""
    import numpy as np
    b = bytearray(path.read_bytes())
    sos = b.index(b'\xff\xda')
    start = sos + 2 + int.from_bytes(b[sos + 2:sos + 4], 'big')
    at = start + (len(b) - start) // 3
    b[at:at + 400] = np.random.default_rng(seed).integers(0, 256, 400, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(b))


def test_jpeg_garbled_inside_is_named_by_decode(data):
    """Pillow decodes a JPEG with garbled scan data (libjpeg only warns "Corrupt JPEG data");
    check_images='decode' names it, the cheap header check cannot see it."""
    from PIL import Image
    img = data / 'images' / 'train_000003.jpg'
    good = img.read_bytes()
    for seed in range(64):  # a garbling that Pillow decodes without a word
        img.write_bytes(good)
        _garble_scan(img, seed)
        try:
            with Image.open(img) as im:
                im.load()
            break
        except OSError:
            continue
    else:
        pytest.fail('no garbling that Pillow decodes was found')
    ann = str(data / 'annotations' / 'train.json')
    img_dir = str(data / 'images')
    assert validate_coco_annotations(ann, img_dir, check_images='header')['num_images'] == 8
    with pytest.raises(
            DatasetValidationError,
            match=r'train_000003\.jpg \(is corrupt inside: libjpeg warns "Corrupt JPEG'):
        validate_coco_annotations(ann, img_dir, check_images='decode')
    img.write_bytes(good)  # the intact file passes
    assert validate_coco_annotations(ann, img_dir, check_images='decode')['num_images'] == 8
