"""Mixed precision: one training step (data preprocessor + loss + backward) of the synthetic ESAM
and SAMKR configs under CPU bf16 autocast gives finite losses close to fp32, and the parts that
must stay fp32 inside autocast (SWAHR's target, ULSAM's softmax, deformable sampling) do."""
import contextlib

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.runner import autocast
from mmpose.registry import MODELS
from mmpose.utils import register_all_modules

import mmpose_attn  # noqa: F401  (registers the models)

torch.set_num_threads(2)
register_all_modules()

ESAM = 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py'
SAMKR = 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py'

# bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2 % per op). Conv/matmul products
# accumulate in fp32 and the fp32 regions remove the ops that would amplify the rounding, so the
# error only random-walks over the rounded layers: measured 0.001 % (ESAM) to 0.6 % (SAMKR's
# scale term) at these steps. 3 % leaves that a 5x margin and still catches a lost fp32 region
# (SWAHR's target or ULSAM's softmax in bf16 change the terms by factors, or give NaN).
LOSS_RTOL = 0.03


def _people(rng, n, w, h, K=17):
    return (rng.uniform(4, w - 4, (n, K, 2)).astype(np.float32), (rng.random((n, K))
                                                                  > 0.2).astype(np.float32))


def _topdown_batch(codec, n_images=4, seed=0):
    rng = np.random.default_rng(seed)
    w, h = codec['input_size']
    pipeline = Compose([
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=codec['input_size']),
        dict(type='GenerateTarget', encoder=codec),
        dict(type='PackPoseInputs')
    ])
    batch = dict(inputs=[], data_samples=[])
    for i in range(n_images):
        kpts, vis = _people(rng, 1, w, h)
        packed = pipeline(
            dict(
                img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
                img_shape=(h, w),
                ori_shape=(h, w),
                id=i,
                img_id=i,
                bbox=np.array([[0, 0, w, h]], np.float32),
                bbox_score=np.ones(1, np.float32),
                keypoints=kpts,
                keypoints_visible=vis))
        batch['inputs'].append(packed['inputs'])
        batch['data_samples'].append(packed['data_samples'])
    return batch


def _bottomup_batch(codec, n_images=2, seed=0):
    rng = np.random.default_rng(seed)
    w, h = codec['input_size']
    pipeline = Compose([
        dict(type='GenerateTarget', encoder=codec),
        dict(type='BottomupGetHeatmapMask'),
        dict(type='PackPoseInputs')
    ])
    batch = dict(inputs=[], data_samples=[])
    for i in range(n_images):
        kpts, vis = _people(rng, 2, w, h)
        packed = pipeline(
            dict(
                img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
                img_shape=(h, w),
                ori_shape=(h, w),
                input_size=(w, h),
                id=i,
                img_id=i,
                warp_mat=np.eye(2, 3, dtype=np.float32),
                keypoints=kpts,
                keypoints_visible=vis))
        batch['inputs'].append(packed['inputs'])
        batch['data_samples'].append(packed['data_samples'])
    return batch


def _train_step(model, batch, amp):
    """mmengine's train step without the optimiser: preprocess, loss (under autocast when
    ``amp``, as AmpOptimWrapper.optim_context does), backward in fp32 outside autocast."""
    model.zero_grad()
    data = model.data_preprocessor(batch, training=True)
    ctx = autocast(device_type='cpu', dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    with ctx:
        losses = model(**data, mode='loss')
    losses = {k: v for k, v in losses.items() if k.startswith('loss')}
    sum(losses.values()).backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return {k: v.detach() for k, v in losses.items()}, grads


def _compare(model, batch):
    model.train()
    torch.manual_seed(0)
    ref, g32 = _train_step(model, batch, amp=False)
    out, g16 = _train_step(model, batch, amp=True)
    assert ref.keys() == out.keys() and len(ref) >= 1
    for key in ref:
        assert out[key].dtype == torch.float32, key
        assert torch.isfinite(out[key]), key
        assert out[key].item() == pytest.approx(ref[key].item(), rel=LOSS_RTOL), key
    assert torch.isfinite(g16).all()
    cos = torch.nn.functional.cosine_similarity(g16, g32, dim=0)
    assert cos > 0.95, cos  # the same descent direction
    return ref, out


def test_esam_synthetic_bf16_step(repo_root):
    cfg = Config.fromfile(str(repo_root / ESAM))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    _compare(model, _topdown_batch(cfg.codec))


def test_samkr_synthetic_bf16_step_with_swahr(repo_root):
    """The synthetic SAMKR model with the W32 configs' SWAHR loss and scale maps, at 64x64."""
    cfg = Config.fromfile(str(repo_root / SAMKR))
    codec = dict(cfg.codec, input_size=(64, 64), heatmap_size=(16, 16))
    cfg.model.head.update(
        decoder=codec,
        with_scale_maps=True,
        heatmap_loss=dict(type='SWAHRLoss', use_target_weight=True))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # scales away from their zero init, so the ln H terms matter
        model.head.scale_branch.depthwise.weight.normal_(0, 0.05)
    ref, out = _compare(model, _bottomup_batch(codec))
    assert {'loss/heatmap', 'loss/scale', 'loss/displacement'} <= set(out)
    assert ref['loss/scale'] > 0


def test_fp32_regions_inside_autocast():
    """Under bf16 autocast: SWAHR's terms, ULSAM's attention and the deformable conv compute in
    fp32 and equal their fp32 results on bf16-rounded inputs."""
    from mmpose_attn.models.layers import ULSAM, GridSampleDeformConv2d
    torch.manual_seed(0)
    bf = lambda t: t.bfloat16().float()  # noqa: E731
    pred, gt = torch.rand(2, 4, 8, 8), torch.rand(2, 4, 8, 8) * (torch.rand(2, 4, 8, 8) > 0.5)
    scale = torch.randn(2, 3, 8, 8) * 0.3
    loss = MODELS.build(dict(type='SWAHRLoss', use_target_weight=True))
    w = torch.ones(2, 4)
    ref = loss.loss_terms(bf(pred), gt, w, scale=bf(scale))
    with autocast(device_type='cpu', dtype=torch.bfloat16):
        out = loss.loss_terms(pred.bfloat16(), gt, w, scale=scale.bfloat16())
    for k in ref:
        assert out[k].dtype == torch.float32
        torch.testing.assert_close(out[k], ref[k])

    ulsam = ULSAM(8, 4).eval()
    x = torch.randn(1, 8, 32, 32)
    with torch.no_grad():
        ref = ulsam(bf(x))
        with autocast(device_type='cpu', dtype=torch.bfloat16):
            out = ulsam(x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref.bfloat16().float())  # one final rounding only

    conv = GridSampleDeformConv2d(4, 4, 3, padding=1, impl='grid_sample')
    x, off = torch.randn(1, 4, 6, 6), torch.randn(1, 18, 6, 6)
    with torch.no_grad():
        ref = conv(bf(x), bf(off))
        with autocast(device_type='cpu', dtype=torch.bfloat16):
            out = conv(x.bfloat16(), off.bfloat16())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref)
