"""SWAHRLoss: formulas, limits, H = 0, masking; one SAMKR-W32 COCO training step."""
import numpy as np
import pytest
import torch
from mmpose.models.losses import KeypointMSELoss
from mmpose.registry import MODELS

import mmpose_attn  # noqa: F401  (registers SWAHRLoss, SAMKRHead)

torch.set_num_threads(2)
W32_COCO = 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py'


def _random_case(seed=0, B=2, C=5, Cs=4, h=12, w=10):
    """P, H (with exact zeros and values in (0, 1]), s, keypoint weights, spatial mask."""
    g = torch.Generator().manual_seed(seed)
    pred = torch.rand(B, C, h, w, generator=g) * 1.4 - 0.2
    gt = torch.rand(B, C, h, w, generator=g)
    gt[gt < 0.5] = 0  # about half the pixels are background
    scale = torch.randn(B, Cs, h, w, generator=g) * 0.3
    weights = (torch.rand(B, C, generator=g) > 0.3).float()
    mask = (torch.rand(B, 1, h, w, generator=g) > 0.2).float()
    return pred, gt, scale, weights, mask


def _reference(pred, gt, scale, weights, mask, gamma=0.01):
    """The formulas of mmpose_attn/models/losses/swahr_loss.py's docstring, element by element in
    float64 NumPy."""
    P, H, S = (t.double().numpy() for t in (pred, gt, scale))
    M = weights.double().numpy()[:, :, None, None] * mask.double().numpy()
    M = np.broadcast_to(M, P.shape)
    Cs = S.shape[1]
    T = H.copy()
    reg = 0.0
    for idx in np.ndindex(*S.shape):
        hv, sv = H[idx], S[idx]
        if hv > 0:
            ln = np.log(hv)
            T[idx] = hv + hv * ln * sv + 0.5 * hv * ln**2 * sv**2
            reg += sv**2 * M[idx]
    Hg = H**gamma
    Wa = np.abs(1 - P) * Hg + np.abs(P) * (1 - Hg)
    heat = (Wa * (P - T)**2 * M).mean()
    assert Cs <= P.shape[1]
    return heat, reg / S.size


def test_loss_equals_formulas():
    pred, gt, scale, weights, mask = _random_case()
    loss = SWAHRLossT()
    terms = loss.loss_terms(pred, gt, weights, mask, scale=scale)
    heat, reg = _reference(pred, gt, scale, weights, mask)
    assert terms['heatmap'].item() == pytest.approx(heat, rel=1e-5)
    assert terms['scale'].item() == pytest.approx(reg, rel=1e-5)
    assert reg > 0 and heat > 0
    # forward is the sum; the weights scale their own term only
    assert loss(pred, gt, weights, mask, scale=scale).item() == pytest.approx(heat + reg, rel=1e-5)
    weighted = SWAHRLossT(
        loss_weight=3., scale_loss_weight=0.5).loss_terms(
            pred, gt, weights, mask, scale=scale)
    assert weighted['heatmap'].item() == pytest.approx(3 * heat, rel=1e-5)
    assert weighted['scale'].item() == pytest.approx(0.5 * reg, rel=1e-5)


def SWAHRLossT(**kw):
    return MODELS.build(dict(type='SWAHRLoss', use_target_weight=True, **kw))


def test_limits_s0_and_gamma0():
    pred, gt, scale, weights, mask = _random_case(seed=1)
    zero = torch.zeros_like(scale)
    # s = 0: target is H, no regulariser; without the weight factor it is KeypointMSELoss
    t0 = SWAHRLossT().loss_terms(pred, gt, weights, mask, scale=zero)
    assert t0['scale'].item() == 0
    assert t0['heatmap'].item() == pytest.approx(
        SWAHRLossT().loss_terms(pred, gt, weights, mask)['heatmap'].item(), rel=1e-6)
    plain = SWAHRLossT(weight_adaptive=False)(pred, gt, weights, mask, scale=zero)
    mse = KeypointMSELoss(use_target_weight=True)(pred, gt, weights, mask)
    assert plain.item() == pytest.approx(mse.item(), rel=1e-6)
    # gamma -> 0+: factor |1 - P| on foreground, |P| on background
    tiny = SWAHRLossT(gamma=1e-9).loss_terms(pred, gt, weights, mask)['heatmap']
    factor = torch.where(gt > 0, (1 - pred).abs(), pred.abs())
    expected = (factor * (pred - gt)**2 * weights[:, :, None, None] * mask).mean()
    assert tiny.item() == pytest.approx(expected.item(), rel=1e-5)


def test_zero_heatmap_gives_finite_values_and_grads():
    pred, gt, scale, weights, mask = _random_case(seed=2)
    for target in (gt, torch.zeros_like(gt)):
        p = pred.clone().requires_grad_()
        s = scale.clone().requires_grad_()
        total = SWAHRLossT()(p, target, weights, mask, scale=s)
        total.backward()
        assert torch.isfinite(total)
        assert torch.isfinite(p.grad).all() and torch.isfinite(s.grad).all()
        # s only acts where H > 0
        assert (s.grad[target[:, :s.shape[1]] == 0] == 0).all()


def test_masked_pixels_contribute_nothing():
    pred, gt, scale, weights, mask = _random_case(seed=3)
    loss = SWAHRLossT()
    base = loss.loss_terms(pred, gt, weights, mask, scale=scale)
    off = (weights[:, :, None, None] * mask).expand_as(pred) == 0
    assert off.any() and (~off).any()
    pred2, gt2 = pred.clone(), gt.clone()
    pred2[off] = torch.rand(int(off.sum())) * 5
    gt2[off] = torch.rand(int(off.sum()))
    scale2 = scale.clone()
    scale2[off[:, :scale.shape[1]]] = 7.
    moved = loss.loss_terms(pred2, gt2, weights, mask, scale=scale2)
    assert moved['heatmap'].item() == pytest.approx(base['heatmap'].item(), rel=1e-6)
    assert moved['scale'].item() == pytest.approx(base['scale'].item(), rel=1e-6)
    p = pred.clone().requires_grad_()
    loss(p, gt, weights, mask, scale=scale).backward()
    assert (p.grad[off] == 0).all() and (p.grad[~off] != 0).any()


def test_scale_maps_need_a_scale_aware_loss():
    with pytest.raises(ValueError, match='with_scale_maps'):
        MODELS.build(
            dict(
                type='SAMKRHead',
                in_channels=8,
                num_keypoints=3,
                with_scale_maps=True,
                heatmap_loss=dict(type='KeypointMSELoss', use_target_weight=True)))


def _generated_batch(codec, n_images=2, seed=0):
    """Images with random people, packed by mmpose's own target pipeline."""
    from mmcv.transforms import Compose
    rng = np.random.default_rng(seed)
    w, h = codec['input_size']
    pipeline = Compose([
        dict(type='GenerateTarget', encoder=codec),
        dict(type='BottomupGetHeatmapMask'),
        dict(type='PackPoseInputs'),
    ])
    batch = dict(inputs=[], data_samples=[])
    for i in range(n_images):
        n = 2
        results = dict(
            img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
            img_shape=(h, w),
            ori_shape=(h, w),
            input_size=(w, h),
            id=i,
            img_id=i,
            warp_mat=np.eye(2, 3, dtype=np.float32),  # as left by BottomupRandomAffine
            keypoints=rng.uniform(4, w - 4, (n, 17, 2)).astype(np.float32),
            keypoints_visible=(rng.random((n, 17)) > 0.2).astype(np.float32))
        packed = pipeline(results)
        batch['inputs'].append(packed['inputs'])
        batch['data_samples'].append(packed['data_samples'])
    return batch


def test_w32_coco_training_step(repo_root):
    """One optimiser step of the W32 COCO config (input reduced to 64x64: DEKR's
    deformable convs are slow to back-propagate on CPU)."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmpose.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(repo_root / W32_COCO))
    assert cfg.model.head.heatmap_loss.type == 'SWAHRLoss' and cfg.model.head.with_scale_maps
    cfg.model.backbone.init_cfg = None
    codec = dict(cfg.codec, input_size=(64, 64), heatmap_size=(16, 16))
    cfg.model.head.decoder = codec
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.head.init_weights()  # DEKR's small head init (the backbone keeps torch's)
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    scale_w = model.head.scale_branch.depthwise.weight.detach().clone()
    log_vars = model.train_step(_generated_batch(codec), optim)
    for key in ('loss/heatmap', 'loss/scale', 'loss/displacement', 'loss'):
        assert key in log_vars and torch.isfinite(log_vars[key]), key
    assert log_vars['loss/heatmap'] > 0 and log_vars['loss/displacement'] > 0
    # the scale maps are trained through the loss
    assert not torch.equal(scale_w, model.head.scale_branch.depthwise.weight)


def _scale_head(**kw):
    return MODELS.build(
        dict(
            type='SAMKRHead',
            in_channels=8,
            num_keypoints=3,
            num_displacement_filters_per_keypoint=4,
            num_subspaces=2,
            num_heatmap_filters=6,
            with_scale_maps=True,
            heatmap_loss=dict(type='SWAHRLoss', use_target_weight=True),
            **kw))


def test_scale_branch_is_swahrs_and_starts_at_zero():
    """1x1 conv (C->K) + BN + ReLU + 9x9 depthwise conv (K groups, padding 4, bias), last conv
    zero-initialised: s = 0 exactly, at construction and after DEKR's init_weights."""
    from torch import nn
    torch.manual_seed(0)
    head = _scale_head()
    branch = head.scale_branch
    conv1, bn = branch.reduce.conv, branch.reduce.bn
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size) == (6, 3, (1, 1))
    assert isinstance(bn, nn.BatchNorm2d) and isinstance(branch.reduce.activate, nn.ReLU)
    dw = branch.depthwise
    assert (dw.in_channels, dw.out_channels, dw.kernel_size, dw.padding, dw.groups) == \
        (3, 3, (9, 9), (4, 4), 3) and dw.bias is not None
    x = (torch.randn(2, 8, 12, 10), )
    for stage in ('built', 'init_weights'):
        if stage == 'init_weights':
            head.init_weights()  # DEKR's Normal(0.001) on every Conv2d, then the branch's zeros
        head.train()
        _, scales, _ = head.forward_train(x)
        assert scales.shape == (2, 3, 12, 10)
        assert torch.equal(scales, torch.zeros_like(scales)), stage
        assert torch.equal(dw.weight, torch.zeros_like(dw.weight)) and \
            torch.equal(dw.bias, torch.zeros_like(dw.bias))


def test_scale_branch_gets_gradients():
    torch.manual_seed(0)
    head = _scale_head()
    head.init_weights()
    head.train()
    x = (torch.randn(2, 8, 12, 10), )
    gt = torch.rand(2, 4, 12, 10) * (torch.rand(2, 4, 12, 10) > 0.5)
    _, scales, _ = head.forward_train(x)
    heatmaps = torch.rand(2, 4, 12, 10)  # a prediction away from the target
    loss = head.loss_module['heatmap'](heatmaps, gt, torch.ones(2, 4), scale=scales)
    loss.backward()
    dw = head.scale_branch.depthwise
    # s = 0, yet dL/ds = dL/dT * H ln H != 0, so the zeroed conv learns; the first conv's
    # gradient is 0 until the depthwise weights leave 0 (they multiply it)
    assert dw.weight.grad.abs().sum() > 0 and dw.bias.grad.abs().sum() > 0
    with torch.no_grad():
        dw.weight -= 10 * dw.weight.grad
    head.zero_grad()
    _, scales, _ = head.forward_train(x)
    assert scales.abs().sum() > 0
    head.loss_module['heatmap'](heatmaps, gt, torch.ones(2, 4), scale=scales).backward()
    assert head.scale_branch.reduce.conv.weight.grad.abs().sum() > 0
