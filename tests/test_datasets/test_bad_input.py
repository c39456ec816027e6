"""Broken datasets and model settings fail early with one error naming the file, field and fix;
images with no people or with many people train and evaluate."""
import json
import os
import shutil
from pathlib import Path

import pytest
from _tiny_train import REPO, TINY_CONFIG, make_tiny_data, session_root
from mmengine.config import Config
from mmpose.registry import DATASETS, MODELS

import mmpose_attn  # noqa: F401  (registers ValidatedCocoDataset, hooks, models)
from mmpose_attn.datasets import DatasetValidationError, validate_coco_annotations


@pytest.fixture
def data(tmp_path) -> Path:
    """A private copy of the tiny synthetic dataset, free to be broken."""
    root = tmp_path / 'data'
    shutil.copytree(session_root() / 'data', root)
    return root


def _ann(root: Path) -> Path:
    return root / 'annotations' / 'train.json'


def _edit(path: Path, fn) -> None:
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


def _validate(root: Path, **kwargs):
    return validate_coco_annotations(str(_ann(root)), str(root / 'images'), **kwargs)


def test_valid_dataset_passes(data):
    summary = _validate(data, num_keypoints=17)
    assert summary['num_images'] == 8 and summary['num_keypoints'] == 17
    assert summary['num_annotations'] == 16


def test_missing_image_file(data):
    (data / 'images' / 'train_000003.jpg').unlink()
    with pytest.raises(DatasetValidationError) as e:
        _validate(data)
    msg = str(e.value)
    assert str(_ann(data)) in msg and 'images[*].file_name' in msg
    assert 'train_000003.jpg (file not found)' in msg and 'Fix:' in msg


def test_truncated_jpeg(data):
    img = data / 'images' / 'train_000002.jpg'
    img.write_bytes(img.read_bytes()[:img.stat().st_size // 2])
    with pytest.raises(DatasetValidationError, match=r'train_000002\.jpg \(cannot be decoded'):
        _validate(data)


def test_corrupt_image(data):
    (data / 'images' / 'train_000004.jpg').write_bytes(b'<html>404 not found</html>')
    with pytest.raises(DatasetValidationError, match='unknown file signature'):
        _validate(data)


def test_annotation_file_not_json(data):
    _ann(data).write_text(_ann(data).read_text()[:500])  # a truncated download
    with pytest.raises(DatasetValidationError) as e:
        _validate(data)
    assert str(_ann(data)) in str(e.value) and 'not valid JSON' in str(e.value)


@pytest.mark.parametrize('field', ['images', 'annotations', 'categories'])
def test_annotation_file_lacks_field(data, field):
    _edit(_ann(data), lambda d: d.pop(field))
    with pytest.raises(DatasetValidationError, match=f'"{field}": missing or not a list'):
        _validate(data)


def test_keypoints_of_wrong_length(data):
    _edit(_ann(data), lambda d: d['annotations'][5].update(keypoints=[0] * 42))
    with pytest.raises(DatasetValidationError) as e:
        _validate(data, num_keypoints=17)
    msg = str(e.value)
    assert 'annotations[*].keypoints' in msg and 'expected 3 * 17 = 51' in msg
    assert 'annotations[5]' in msg and 'has 42' in msg


def test_file_keypoint_count_differs_from_dataset(data):
    with pytest.raises(
            DatasetValidationError,
            match=r'expected 3 \* 14 = 42 values .*has 51 \(17 keypoints\)'):
        _validate(data, num_keypoints=14)


def test_validated_dataset_fails_while_loading(data):
    """The config's dataset raises the clear error when it is built, before any iteration."""
    _ann(data).write_text('{"images": [')
    cfg = dict(
        type='ValidatedCocoDataset',
        data_root=str(data),
        data_mode='topdown',
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        pipeline=[])
    with pytest.raises(DatasetValidationError, match='not valid JSON'):
        DATASETS.build(cfg)
    # the same file through stock mmpose: an error that names neither file nor fix
    cfg['type'] = 'CocoDataset'
    with pytest.raises(json.JSONDecodeError):
        DATASETS.build(cfg)


def test_model_keypoint_count_mismatch_fails_before_training(data, tmp_path, monkeypatch):
    monkeypatch.setenv('MMPOSE_ATTN_TINY_DATA', str(data) + os.sep)
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(TINY_CONFIG))
    cfg.model.head.out_channels = 14
    cfg.randomness = dict(seed=0)  # keep torch's deterministic mode out of the pytest process
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(DatasetValidationError) as e:
        runner.train()
    msg = str(e.value)
    assert 'has 17 keypoints but model.head.out_channels=14' in msg
    assert 'Fix: set model.head.out_channels=17' in msg
    assert runner.iter == 0


def test_invalid_samkr_structure_from_config():
    cfg = Config.fromfile(
        str(REPO / 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py'))
    head = cfg.model.head
    head.num_subspaces = 5  # does not divide the 16 filters per keypoint
    with pytest.raises(ValueError, match='num_subspaces g=5 must divide'):
        MODELS.build(head)


def test_unknown_sam_layout_from_config():
    cfg = Config.fromfile(
        str(REPO / 'configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py'))
    backbone = cfg.model.backbone
    backbone.update(sam_layout='diagonal5x5', init_cfg=None, depth=18)
    with pytest.raises(ValueError, match="unknown sam_layout 'diagonal5x5'"):
        MODELS.build(backbone)


@pytest.mark.slow
def test_images_with_zero_and_many_people_train_and_evaluate(tmp_path):
    root = make_tiny_data(tmp_path / 'data')

    def crowd(d, n_people=60):
        """Image 1: no people at all; image 2: n_people copies (shifted) of one person."""
        first, second = d['images'][0]['id'], d['images'][1]['id']
        anns = [a for a in d['annotations'] if a['image_id'] != first]
        template = next(a for a in anns if a['image_id'] == second)
        next_id = max(a['id'] for a in anns) + 1
        for i in range(n_people):
            a = json.loads(json.dumps(template))
            a['id'] = next_id + i
            dx = (i % 10) * 2.0
            a['bbox'][0] += dx
            a['keypoints'] = [
                v + dx if j % 3 == 0 and a['keypoints'][j + 2] > 0 else v
                for j, v in enumerate(a['keypoints'])
            ]
            anns.append(a)
        d['annotations'] = anns

    for split in ('train', 'val'):
        _edit(root / 'annotations' / f'{split}.json', crowd)
    summary = validate_coco_annotations(str(root / 'annotations/val.json'), str(root / 'images'))
    assert summary['images_without_people'] >= 1 and summary['max_people_per_image'] >= 60

    # in-process (saves a ~7 s interpreter start); deterministic mode stays out of pytest
    from mmengine.runner import Runner
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('MMPOSE_ATTN_TINY_DATA', str(root) + os.sep)
        cfg = Config.fromfile(str(TINY_CONFIG))
    cfg.merge_from_dict({
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'train_dataloader.batch_size': 16,
        'randomness': dict(seed=0),
        'work_dir': str(tmp_path / 'work'),
        'experiment_name': 'zero_and_many_people'
    })
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter > 0
    metrics = runner.message_hub.get_scalar('val/coco/AP')
    assert metrics is not None
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
