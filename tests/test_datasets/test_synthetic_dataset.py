"""mmpose_attn.datasets.synthetic and its CLI: deterministic, exact COCO / CrowdPose formats."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmpose_attn.datasets import synthetic as synthetic_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob('*') if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope='module')
def coco_data(tmp_path_factory) -> dict:
    return synthetic_dataset.make_dataset(
        str(tmp_path_factory.mktemp('coco')), 'coco', train_images=12, val_images=6, seed=3)


@pytest.fixture(scope='module')
def crowdpose_data(tmp_path_factory) -> dict:
    return synthetic_dataset.make_dataset(
        str(tmp_path_factory.mktemp('crowdpose')),
        'crowdpose',
        train_images=12,
        val_images=6,
        seed=3)


def test_deterministic_for_a_seed(tmp_path, coco_data):
    again = synthetic_dataset.make_dataset(str(tmp_path / 'a'), 'coco', 12, 6, seed=3)
    other = synthetic_dataset.make_dataset(str(tmp_path / 'b'), 'coco', 12, 6, seed=4)
    assert _digest(Path(again['data_root'])) == _digest(Path(coco_data['data_root']))
    assert _digest(Path(other['data_root'])) != _digest(Path(coco_data['data_root']))
    # the val split does not depend on the size of the train split
    fewer = synthetic_dataset.make_dataset(str(tmp_path / 'c'), 'coco', 2, 6, seed=3)
    assert Path(fewer['val_ann']).read_bytes() == Path(coco_data['val_ann']).read_bytes()


@pytest.mark.parametrize('name,num_kpts', [('coco', 17), ('crowdpose', 14)])
def test_annotation_format(name, num_kpts, coco_data, crowdpose_data):
    paths = coco_data if name == 'coco' else crowdpose_data
    for split in ('train', 'val'):
        d = json.loads(Path(paths[f'{split}_ann']).read_text())
        assert set(d) >= {'images', 'annotations', 'categories'}
        cat, = d['categories']
        assert cat['id'] == 1 and cat['name'] == 'person' and len(cat['keypoints']) == num_kpts
        assert all(1 <= i <= num_kpts for link in cat['skeleton'] for i in link)
        images = {im['id']: im for im in d['images']}
        assert len(images) == {'train': 12, 'val': 6}[split]
        for im in images.values():
            assert (Path(paths['img_dir']) / im['file_name']).is_file()
            assert ('crowdIndex' in im) == (name == 'crowdpose')
        counts = [0, 0, 0]
        for ann in d['annotations']:
            im = images[ann['image_id']]
            kpts = np.array(ann['keypoints'], dtype=float).reshape(num_kpts, 3)
            vis = kpts[:, 2]
            assert set(vis) <= {0, 1, 2}
            assert (kpts[vis == 0, :2] == 0).all()  # not labelled -> x = y = 0
            lab = kpts[vis > 0]
            assert ((lab[:, 0] >= 0) & (lab[:, 0] < im['width']) & (lab[:, 1] >= 0) &
                    (lab[:, 1] < im['height'])).all()
            assert ann['num_keypoints'] == int((vis > 0).sum()) > 0
            x, y, w, h = ann['bbox']
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= im['width'] and y + h <= im['height']
            assert 0 < ann['area'] <= w * h
            assert ann['iscrowd'] == 0 and ann['category_id'] == 1
            for v in range(3):
                counts[v] += int((vis == v).sum())
        assert len({a['id'] for a in d['annotations']}) == len(d['annotations'])
        # occluded and absent keypoints both occur, most are visible
        assert counts[0] > 0 and counts[1] > 0 and counts[2] > counts[0] + counts[1]


def test_crowd_index_varies(crowdpose_data):
    d = json.loads(Path(crowdpose_data['train_ann']).read_text())
    ci = [im['crowdIndex'] for im in d['images']]
    assert min(ci) == 0.0 and max(ci) > 0.1  # lone people and overlapping ones


def test_crowd_index_definition():
    # B's box holds 2 of A's joints and both of its own; A's box holds only its own 2
    a = np.array([[0, 0, 2], [10, 10, 2]], float)
    b = np.array([[5, 5, 2], [6, 6, 2]], float)
    ci = synthetic_dataset._crowd_index([[0, 0, 10, 10], [4, 4, 3, 3]], [a, b])
    assert ci == pytest.approx(np.mean([2 / 2, 0 / 2]), abs=0.01)


def test_loads_with_mmpose_and_xtcocotools(coco_data, crowdpose_data):
    from mmpose.datasets import CocoDataset, CrowdPoseDataset
    from xtcocotools.coco import COCO
    for cls, paths, k in ((CocoDataset, coco_data, 17), (CrowdPoseDataset, crowdpose_data, 14)):
        num_people = len(json.loads(Path(paths['val_ann']).read_text())['annotations'])
        assert len(COCO(paths['val_ann']).getAnnIds()) == num_people
        for mode in ('topdown', 'bottomup'):
            ds = cls(
                data_root=paths['data_root'],
                ann_file='annotations/val.json',
                data_prefix=dict(img='images/'),
                data_mode=mode,
                test_mode=True,
                pipeline=[])
            assert len(ds) == (num_people if mode == 'topdown' else 6)
            assert ds[0]['keypoints'].shape[1:] == (k, 2)


def test_cli(tmp_path):
    out = subprocess.run([
        sys.executable,
        str(REPO_ROOT / 'tools' / 'synthetic_dataset.py'),
        str(tmp_path), '--dataset', 'crowdpose', '--train-images', '2', '--val-images', '1',
        '--seed', '7'
    ],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert 'train: 2 images' in out and 'val: 1 images' in out
    ref = synthetic_dataset.make_dataset(str(tmp_path / 'ref'), 'crowdpose', 2, 1, seed=7)
    assert (tmp_path / 'annotations' / 'val.json').read_bytes() == \
        Path(ref['val_ann']).read_bytes()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='dataset'):
        synthetic_dataset.make_dataset(str(tmp_path), 'mpii')
    with pytest.raises(ValueError, match='train_images'):
        synthetic_dataset.make_dataset(str(tmp_path), 'coco', train_images=-1)
