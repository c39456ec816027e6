"""A checkpoint that does not fit the model is refused (function, and `mim test` end to end)."""
import os
import re
import subprocess
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmpose.registry import MODELS
from mmpose.utils import register_all_modules

from mmpose_attn.datasets.synthetic import make_dataset
from mmpose_attn.engine.checkpoint_fit import CheckpointMismatchError, check_state_dict_fits
from mmpose_attn.utils import remove_init_cfg

REPO_ROOT = Path(__file__).resolve().parents[3]
TD = 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py'
BU = 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py'


def _net():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def test_fitting_state_dict_and_module_prefix():
    net = _net()
    fit = check_state_dict_fits(net, {'state_dict': _net().state_dict()}, 'a.pth')
    assert fit.fits and fit.matched == list(net.state_dict())
    assert (fit.missing, fit.unexpected, fit.mismatched) == ([], [], [])
    ddp = OrderedDict(('module.' + k, v) for k, v in _net().state_dict().items())
    assert check_state_dict_fits(net, ddp, 'ddp.pth').matched == list(net.state_dict())


def test_mismatch_raises_naming_keys_and_shapes():
    net = _net()
    sd = _net().state_dict()
    sd['2.weight'] = torch.zeros(5, 4, 1, 1)
    del sd['0.bias']
    sd['extra.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError) as err:
        check_state_dict_fits(net, sd, 'other.pth')
    msg = str(err.value)
    assert isinstance(err.value, RuntimeError)
    assert 'other.pth into Sequential' in msg
    assert '7 of 9 model tensors loaded, 1 new' in msg
    assert '2.weight (5, 4, 1, 1) vs (2, 4, 1, 1)' in msg
    assert 'extra.weight' in msg and '0.bias' in msg and 'allow_partial_load = True' in msg

    fit = check_state_dict_fits(net, sd, 'other.pth', allow_partial=True)
    assert not fit.fits
    assert fit.missing == ['0.bias'] and fit.unexpected == ['extra.weight']
    assert fit.mismatched == [('2.weight', (5, 4, 1, 1), (2, 4, 1, 1))]
    assert len(fit.matched) == 7 and '1 shape-mismatched' in fit.summary()


def _esam_checkpoint(path: Path, drop_head: bool = False) -> Path:
    register_all_modules()
    cfg = Config.fromfile(str(REPO_ROOT / TD))
    remove_init_cfg(cfg.model)
    sd = MODELS.build(cfg.model).state_dict()
    if drop_head:
        sd = OrderedDict((k, v) for k, v in sd.items() if not k.startswith('head.'))
    torch.save(dict(state_dict=sd, meta=dict()), path)
    return path


def _mim_test(config, ckpt, root, *options):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get('PYTHONPATH')]))
    data = [f'test_dataloader.dataset.data_root={root}/']
    return subprocess.run([
        'mim', 'test', 'mmpose', config, '--checkpoint',
        str(ckpt), '--work-dir',
        str(root / 'work'), '--cfg-options', *data, *options
    ],
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)


@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory) -> Path:
    return Path(
        make_dataset(
            str(tmp_path_factory.mktemp('fit')), 'coco', train_images=0, val_images=2,
            seed=0)['data_root'])


def test_mim_test_refuses_esam_checkpoint_for_samkr(tiny_coco):
    ckpt = _esam_checkpoint(tiny_coco / 'esam.pth')
    proc = _mim_test(BU, ckpt, tiny_coco)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert 'CheckpointMismatchError' in out
    assert f'checkpoint {ckpt} into MultiScaleBottomupPoseEstimator' in out
    # only shape-free scalars (BatchNorm's num_batches_tracked) can coincide between the two models
    loaded, total = map(int, re.search(r'(\d+) of (\d+) model tensors loaded', out).groups())
    assert loaded < total // 10, out[-3000:]
    assert 'Testing finished successfully' not in out and 'coco/AP: ' not in out


def test_mim_test_partial_load_only_when_asked(tiny_coco):
    ckpt = _esam_checkpoint(tiny_coco / 'esam_nohead.pth', drop_head=True)
    refused = _mim_test(TD, ckpt, tiny_coco)
    assert refused.returncode != 0 and 'CheckpointMismatchError' in refused.stdout + refused.stderr
    proc = _mim_test(TD, ckpt, tiny_coco, 'allow_partial_load=True')
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'allow_partial_load = True: partial load of the checkpoint' in out
    assert 'new (not in the checkpoint)' in out and 'head.' in out and 'coco/AP' in out


# --- every path outside the runner: one builder, one loader ---------------------------------
def test_export_and_api_refuse_another_models_checkpoint(tmp_path):
    """SAMKR config + an ESAM checkpoint: the ONNX export (which used to write random weights and
    report parity OK), the Python API and the inferencer all stop, naming the checkpoint."""
    import warnings

    from _demo_tools import load_tool

    from mmpose_attn.apis import AttnPoseInferencer, build_pose_model
    from mmpose_attn.deployment import export as dx
    ckpt = _esam_checkpoint(tmp_path / 'esam.pth')
    bu = str(REPO_ROOT / BU)
    pattern = rf'checkpoint {re.escape(str(ckpt))} into MultiScaleBottomupPoseEstimator'
    out = tmp_path / 'samkr.onnx'
    with pytest.raises(CheckpointMismatchError, match=pattern):
        load_tool('deployment/export_onnx').main(
            [bu, '--checkpoint', str(ckpt), '--out',
             str(out), '--repeats', '1'])
    assert not out.exists()
    with pytest.raises(CheckpointMismatchError, match=pattern):
        build_pose_model(bu, str(ckpt), device='cpu')
    with pytest.raises(CheckpointMismatchError, match=pattern):
        dx.build_export_model(bu, str(ckpt))
    with pytest.raises(CheckpointMismatchError, match=pattern), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        AttnPoseInferencer(bu, str(ckpt), device='cpu')


def test_api_loads_a_fitting_checkpoint_and_a_partial_one_only_when_asked(tmp_path):
    from mmpose_attn.apis import build_pose_model
    td = str(REPO_ROOT / TD)
    full = torch.load(_esam_checkpoint(tmp_path / 'esam.pth'), weights_only=False)['state_dict']
    model = build_pose_model(td, str(tmp_path / 'esam.pth'), device='cpu')
    for k, v in model.state_dict().items():
        assert torch.equal(v, full[k]), k
    assert model.dataset_meta['num_keypoints'] == 17 and not model.training
    nohead = _esam_checkpoint(tmp_path / 'nohead.pth', drop_head=True)
    with pytest.raises(
            CheckpointMismatchError, match=r'20 new \(not in the checkpoint\)(?s:.*)new: head\.'):
        build_pose_model(td, str(nohead), device='cpu')
    partial = build_pose_model(
        td, str(nohead), device='cpu', cfg_options={'allow_partial_load': True})
    sd = torch.load(nohead, weights_only=False)['state_dict']
    for k, v in partial.state_dict().items():
        if k in sd:
            assert torch.equal(v, sd[k]), k


def test_tools_share_one_model_builder():
    """The analysis, benchmark, export and GPU-check tools build through mmpose_attn.utils'
    build_model (and so load through the checked loader)."""
    import inspect

    import benchmark  # tools/analysis_tools, on pytest.ini's pythonpath
    import gpu_check
    import model_table
    from mmpose_attn import utils
    from mmpose_attn.deployment import export as dx
    assert model_table.build_model is utils.build_model
    assert benchmark.build_model is utils.build_model
    assert utils.build_model(Config.fromfile(str(REPO_ROOT / TD))).training is False
    for fn in (gpu_check._build, dx.build_export_model):
        assert 'MODELS.build' not in inspect.getsource(fn) and 'load_checkpoint(' not in \
            inspect.getsource(fn)
    model = gpu_check._build('quick_td', 'cpu')
    assert model.training and type(model).__name__ == 'TopdownPoseEstimator'
