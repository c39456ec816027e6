"""Smoke tests of the installed stack: compiled mmcv ops, mmengine train/save/resume under the
installed torch, checkpoint loading after ``import mmpose_attn``, a stock mmpose model on CPU."""
import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import mmpose_attn
from mmpose_attn.utils import load_config


def test_version_and_registration():
    from mmpose.registry import MODELS
    assert isinstance(mmpose_attn.__version__, str) and mmpose_attn.__version__.count('.') == 2
    # Importing the plugin must not break mmpose's own registry.
    assert MODELS.get('TopdownPoseEstimator') is not None


def test_deform_conv2d_cpu_forward_backward():
    from mmcv.ops import DeformConv2d
    torch.manual_seed(0)
    conv = DeformConv2d(4, 6, kernel_size=3, padding=1)
    x = torch.randn(2, 4, 9, 7, requires_grad=True)
    zero_offset = torch.zeros(2, 2 * 3 * 3, 9, 7, requires_grad=True)
    y = conv(x, zero_offset)
    assert y.shape == (2, 6, 9, 7)
    # With zero offsets a deformable conv is a plain conv with the same weights.
    ref = nn.functional.conv2d(x, conv.weight, padding=1)
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert conv.weight.grad.abs().sum() > 0
    assert zero_offset.grad.abs().sum() > 0


class _ToyModel(BaseModel):
    """y = Wx + b regression with an mmengine-style loss dict."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.linear(inputs)
        if mode == 'loss':
            targets = torch.stack(targets) if isinstance(targets, list) else targets
            return dict(loss=((out - targets)**2).mean())
        return out


class _ToyDataset(torch.utils.data.Dataset):

    def __init__(self):
        rng = np.random.RandomState(0)
        self.x = torch.from_numpy(rng.randn(32, 3).astype(np.float32))
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


def _toy_runner(work_dir, max_iters, **kwargs):
    torch.manual_seed(0)  # the model is built before the Runner seeds; same init in every run
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=5, by_epoch=False),
            logger=dict(type='LoggerHook', interval=5)),
        randomness=dict(seed=0),
        default_scope='mmengine',
        experiment_name=f'toy_{max_iters}_{kwargs.get("resume", False)}',
        **kwargs)


def test_runner_train_save_resume(tmp_path):
    """Train 10 iters straight vs 5 iters + resume to 10: same weights (the checkpoint carries the
    optimizer momentum, message hub and RNG state, which torch>=2.6 refuses to unpickle by
    default)."""
    straight = _toy_runner(tmp_path / 'straight', 10)
    straight.train()
    w_straight = copy.deepcopy(straight.model.state_dict())

    first = _toy_runner(tmp_path / 'resumed', 5)
    first.train()
    ckpt = tmp_path / 'resumed' / 'iter_5.pth'
    assert ckpt.is_file()
    # A real mmengine checkpoint holds non-tensor objects that weights_only=True rejects.
    with pytest.raises(Exception, match='(?i)weights_only|unsupported global'):
        torch.load(ckpt, weights_only=True)

    second = _toy_runner(tmp_path / 'resumed', 10, resume=True)
    second.train()
    assert second.iter == 10
    for k, v in w_straight.items():
        torch.testing.assert_close(second.model.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    assert not torch.equal(w_straight['linear.weight'], _ToyModel().state_dict()['linear.weight'])


def test_load_checkpoint_after_import_in_fresh_process(tmp_path):
    """``python -c 'import mmpose_attn'`` then mmengine's load_checkpoint on a Runner checkpoint."""
    runner = _toy_runner(tmp_path, 5)
    runner.train()
    ckpt = tmp_path / 'iter_5.pth'
    code = ('import sys, torch, mmpose_attn\n'
            'from mmengine.runner import load_checkpoint\n'
            'm = torch.nn.Module(); m.linear = torch.nn.Linear(3, 1)\n'
            'ck = load_checkpoint(m, sys.argv[1], map_location="cpu")\n'
            'assert "message_hub" in ck and "meta" in ck, ck.keys()\n'
            'print(m.linear.weight.flatten().tolist())\n')
    env = {k: v for k, v in os.environ.items() if k != 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'}
    out = subprocess.run([sys.executable, '-c', code, str(ckpt)],
                         capture_output=True,
                         text=True,
                         env=env,
                         check=True).stdout
    loaded = eval(out.strip().splitlines()[-1])
    np.testing.assert_allclose(loaded, runner.model.linear.weight.flatten().tolist(), rtol=1e-6)

    m = nn.Module()
    m.linear = nn.Linear(3, 1)
    load_checkpoint(m, str(ckpt), map_location='cpu')
    torch.testing.assert_close(m.linear.weight, runner.model.linear.weight)


def test_missing_checkpoint_names_the_file(tmp_path):
    m = nn.Linear(3, 1)
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint(m, str(tmp_path / 'nope.pth'))


def test_stock_simplebaseline_builds_and_runs_on_cpu():
    from mmengine.structures import InstanceData
    from mmpose.registry import MODELS
    from mmpose.structures import PoseDataSample
    from mmpose.utils import register_all_modules
    register_all_modules()
    cfg = load_config(
        'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py')
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    n_params = sum(p.numel() for p in model.parameters())
    # SimpleBaseline-R50: 34.0 M parameters (Xiao et al. 2018; the ESAM paper's baseline).
    assert abs(n_params / 1e6 - 34.0) < 0.1, n_params
    x = torch.randn(2, 3, 256, 192)
    with torch.no_grad():
        heatmaps = model(x, None, mode='tensor')
    assert heatmaps.shape == (2, 17, 64, 48)
    sample = PoseDataSample(
        metainfo=dict(
            input_size=(192, 256),
            input_center=np.array([96., 128.]),
            input_scale=np.array([192., 256.]),
            flip_indices=list(range(17))))
    sample.gt_instances = InstanceData(
        bboxes=np.array([[0., 0., 192., 256.]]), bbox_scores=np.ones(1))
    with torch.no_grad():
        preds = model(x[:1], [sample], mode='predict')
    assert preds[0].pred_instances.keypoints.shape == (1, 17, 2)


def test_version_check_names_package_and_fix():
    import mmpose_attn
    with pytest.raises(
            AssertionError,
            match=r'mmpose_attn needs mmpose>=1\.3\.0, <1\.4\.0, but '
            r'mmpose==1\.2\.0 is installed.*mim install'):
        mmpose_attn._check('mmpose', '1.2.0', mmpose_attn.mmpose_minimum_version,
                           mmpose_attn.mmpose_maximum_version)
    for name, module in (('mmcv', 'mmcv'), ('mmengine', 'mmengine'), ('mmpose', 'mmpose')):
        installed = __import__(module).__version__
        mmpose_attn._check(name, installed, getattr(mmpose_attn, f'{name}_minimum_version'),
                           getattr(mmpose_attn, f'{name}_maximum_version'))
