"""The stock runners end to end: `mim train mmpose` / `mim test mmpose` on our configs, run from
the repo root in a subprocess, on synthetic data and on the real samples in ../shared/data.

The schedules are cut to one epoch on a few images with `--cfg-options`; these tests check that the
runners, the configs and the metrics work, not accuracy (except the real-COCO overfitting test).
"""
import json
import re
from pathlib import Path
from typing import List

import pytest
from _mim_tools import _metric, _mim

from mmpose_attn.datasets.synthetic import make_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]

TD = 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py'
BU = 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py'
CP_SAMPLES = 'tests/configs/td-hm_esam-res18-w16_crowdpose-samples-128x96.py'
COCO_SAMPLES = 'tests/configs/td-hm_esam-res18-w16_1xb16-40e_coco-samples-128x96.py'
COCO_SAMPLES_DET = 'tests/configs/td-hm_esam-res18-w16_1xb16-40e_coco-samples-det-128x96.py'


def _data_opts(root: Path, splits=('train', 'val', 'test')) -> List[str]:
    return [f'{split}_dataloader.dataset.data_root={root}/' for split in splits]


@pytest.fixture(scope='module')
def synthetic_coco(tmp_path_factory) -> Path:
    return Path(
        make_dataset(
            str(tmp_path_factory.mktemp('syn_coco')), 'coco', train_images=6, val_images=3,
            seed=1)['data_root'])


def _check_ap_ar(out: str, prefix: str = 'coco') -> None:
    for name in ('AP', 'AP .5', 'AR', 'AR .5'):
        value = _metric(out, f'{prefix}/{name}')
        assert 0.0 <= value <= 1.0, (name, value)


@pytest.mark.slow
def test_mim_train_test_topdown(tmp_path, synthetic_coco):
    work = tmp_path / 'td'
    out = _mim('train', 'mmpose', TD, '--work-dir', str(work), '--cfg-options',
               *_data_opts(synthetic_coco), 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
               'default_hooks.checkpoint.interval=1', 'train_dataloader.batch_size=8')
    _check_ap_ar(out)  # validation after the epoch
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    out = _mim('test', 'mmpose', TD, '--checkpoint', str(ckpt), '--work-dir',
               str(tmp_path / 't'), '--out', str(tmp_path / 'metrics.json'), '--cfg-options',
               *_data_opts(synthetic_coco))
    _check_ap_ar(out)
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['coco/AP'] == pytest.approx(_metric(out, 'coco/AP'), abs=1e-6)


@pytest.mark.slow
def test_mim_train_test_bottomup(tmp_path, synthetic_coco):
    work = tmp_path / 'bu'
    # --no-validate removes val_dataloader, so its data_root cannot be set
    _mim('train', 'mmpose', BU, '--work-dir', str(work), '--no-validate', '--cfg-options',
         *_data_opts(synthetic_coco, ('train', 'test')), 'train_cfg.max_epochs=1',
         'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.save_best=None',
         'train_dataloader.batch_size=3')
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    out = _mim('test', 'mmpose', BU, '--checkpoint', str(ckpt), '--work-dir', str(tmp_path / 't'),
               '--cfg-options', *_data_opts(synthetic_coco))
    _check_ap_ar(out)


@pytest.mark.slow
def test_crowdpose_samples_report_easy_medium_hard(tmp_path, shared_data):
    """The CrowdPose metric on the 2 real CrowdPose images prints AP(E)/AP(M)/AP(H).

    The checkpoint is an untrained model (saved here) of the synthetic CrowdPose config: this checks
    the data, the config and the metric, not accuracy.
    """
    import torch
    from mmengine.config import Config
    from mmpose.apis import init_model

    import mmpose_attn  # noqa: F401
    cfg = Config.fromfile(str(REPO_ROOT / CP_SAMPLES))
    assert cfg.test_dataloader.dataset.type == 'ValidatedCrowdPoseDataset'
    model = init_model(cfg, device='cpu')
    ckpt = tmp_path / 'untrained.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    out = _mim('test', 'mmpose', CP_SAMPLES, '--checkpoint', str(ckpt), '--work-dir',
               str(tmp_path / 't'), '--cfg-options',
               f'test_dataloader.dataset.data_root={shared_data}/crowdpose/')
    for name in ('AP', 'AP(E)', 'AP(M)', 'AP(H)', 'AR'):
        assert -1.0 <= _metric(out, f'crowdpose/{name}') <= 1.0


@pytest.mark.slow
def test_overfit_real_coco_samples(tmp_path, shared_data):
    """Trained and evaluated on the 4 real COCO images with GT boxes, the small model reaches
    AP >= 0.9; the same checkpoint is then evaluated on the provided person detections."""
    work = tmp_path / 'overfit'
    root = f'{shared_data}/coco/'
    out = _mim('train', 'mmpose', COCO_SAMPLES, '--work-dir', str(work), '--cfg-options',
               f'train_dataloader.dataset.dataset.data_root={root}',
               f'val_dataloader.dataset.data_root={root}', 'randomness.seed=0')
    ap = _metric(out, 'coco/AP')
    assert ap >= 0.9, out[-3000:]
    ckpt = work / 'epoch_40.pth'
    out = _mim('test', 'mmpose', COCO_SAMPLES_DET, '--checkpoint', str(ckpt), '--work-dir',
               str(tmp_path / 'det'), '--cfg-options', f'test_dataloader.dataset.data_root={root}',
               f'test_dataloader.dataset.bbox_file={root}detections/test_coco_det_AP_H_56.json')
    # one crop per detection (118 boxes), not per ground-truth person (14) ...
    num_dets = len(
        json.loads((shared_data / 'coco/detections/test_coco_det_AP_H_56.json').read_text()))
    iters = re.findall(r'Epoch\(test\) \[(\d+)/(\d+)\]', out)
    assert iters and int(iters[-1][1]) == -(-num_dets // 16), iters
    # ... and the people are still found through the detector's boxes (measured 0.60; an untrained
    # model scores ~0)
    assert 0.3 <= _metric(out, 'coco/AP') <= 1.0, out[-3000:]
