"""prepare_for_cpu_inference: SAMKR and stock mmpose DEKR run in channels_last and under CPU bf16
autocast, and agree with their own contiguous fp32 forward."""
import warnings
from pathlib import Path

import pytest
import torch
from mmcv.ops import DeformConv2d
from mmpose.models.heads.hybrid_heads.dekr_head import AdaptiveActivationBlock

from mmpose_attn.deployment.cpu_inference import prepare_for_cpu_inference
from mmpose_attn.deployment.export import build_export_model
from mmpose_attn.models.layers import ChannelFirstAdaptiveActivationBlock, GridSampleDeformConv2d
from mmpose_attn.utils import TensorForward

torch.set_num_threads(2)

ROOT = Path(__file__).resolve().parents[2]
MODELS = {
    'samkr-synthetic':
    str(ROOT / 'configs/synthetic/'
        'samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py'),
    'samkr-w32':
    str(ROOT / 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py'),
    'dekr-w32':
    'mmpose::body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512.py',
}


def _build(config):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random weights on purpose
        return build_export_model(config, 'none')


@pytest.mark.parametrize('name', list(MODELS))
def test_channels_last_and_bf16_agree_with_fp32(name):
    model = _build(MODELS[name])
    stock_blocks = [m for m in model.modules() if type(m) is AdaptiveActivationBlock]
    assert (len(stock_blocks) > 0) == (name == 'dekr-w32')
    # small input: the structure is what matters; batch 2 to cover batch > 1
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    forward = TensorForward(model)
    with torch.no_grad():
        refs = forward(x)
    assert prepare_for_cpu_inference(model, 'bf16') is model
    assert not any(type(m) in (DeformConv2d, AdaptiveActivationBlock) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, GridSampleDeformConv2d)]
    blocks = [m for m in model.modules() if isinstance(m, ChannelFirstAdaptiveActivationBlock)]
    assert len(convs) == len(blocks) == 2  # the displacement branch's two adaptive blocks
    assert all(c.impl == 'grid_sample' for c in convs)
    assert all(
        p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters()
        if p.dim() == 4)
    with torch.no_grad():
        fp32 = forward(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            bf16 = forward(x)
    assert len(refs) == len(fp32) == len(bf16) == 2  # heatmaps, displacements
    for ref, a, b in zip(refs, fp32, bf16):
        scale = ref.abs().max().item()
        assert a.dtype == torch.float32 and a.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(a, ref, rtol=0, atol=1e-5 * scale)
        assert b.dtype == torch.bfloat16  # the convolutions really ran in bf16
        err = b.float() - ref
        # bf16 keeps 8 bits of mantissa (relative rounding 2^-9 per operation); measured here
        # ~1 % of the largest value at most and < 1 % relative L2, deep networks included
        assert err.abs().max().item() <= 0.04 * scale, (name, err.abs().max().item(), scale)
        assert (err.norm() / ref.norm()).item() <= 0.02


def test_fp32_default_keeps_layout_and_bad_precision_is_refused():
    model = _build(MODELS['samkr-synthetic'])
    prepare_for_cpu_inference(model)
    assert all(p.is_contiguous() for p in model.parameters())
    with pytest.raises(ValueError, match=r"precision='fp16' is not one of \('fp32', 'bf16'\)"):
        prepare_for_cpu_inference(model, 'fp16')
