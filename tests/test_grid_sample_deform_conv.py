"""GridSampleDeformConv2d (issue 6 speed work): the same numbers as mmcv's DeformConv2d, forward
and backward, for every argument DEKR/SAMKR and mmcv use; SAMKRHead runs on it and stays
interchangeable with stock DEKR's mmcv kernel."""
import pytest
import torch
from mmcv.ops import DeformConv2d

import mmpose_attn  # noqa: F401  (registers SAMKRHead)
from mmpose.models.heads.hybrid_heads.dekr_head import AdaptiveActivationBlock
from mmpose.registry import MODELS
from mmpose.utils import register_all_modules
from mmpose_attn.models.layers import GridSampleDeformConv2d, convert_deform_convs

torch.set_num_threads(2)
register_all_modules()


def _pair(*args, **kwargs):
    torch.manual_seed(0)
    ref = DeformConv2d(*args, **kwargs)
    new = GridSampleDeformConv2d(*args, impl='grid_sample', **kwargs)
    new.load_state_dict(ref.state_dict())  # the same keys: checkpoints move both ways
    return ref, new


@pytest.mark.parametrize('args,kwargs,hw', [
    ((272, 272, 3), dict(padding=1, groups=17, deform_groups=17), (12, 10)),  # SAMKR's blocks
    ((8, 6, 3), dict(stride=2, padding=1, dilation=2, deform_groups=2), (9, 7)),
    ((6, 4, (3, 1)), dict(padding=(1, 0), groups=2), (5, 1)),  # non-square kernel, width 1
    ((4, 4, 3), dict(padding=1), (2, 2)),  # input smaller than the kernel (mmcv pads it)
    ((4, 8, 3), dict(), (3, 4)),  # no padding
])
def test_equals_mmcv_forward_and_backward(args, kwargs, hw):
    ref, new = _pair(*args, **kwargs)
    H, W = hw
    x = torch.randn(2, args[0], H, W, requires_grad=True)
    Ho, Wo = new._out_size(H, W)
    K = new.kernel_size[0] * new.kernel_size[1]
    # offsets of several pixels, so samples fall between pixels and outside the image
    offset = (3 * torch.randn(2, 2 * new.deform_groups * K, Ho, Wo)).requires_grad_()
    a, b = ref(x, offset), new(x, offset)
    assert a.shape == b.shape == (2, args[1], Ho, Wo)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    ga = torch.autograd.grad(a.square().sum(), (x, offset, ref.weight))
    gb = torch.autograd.grad(b.square().sum(), (x, offset, new.weight))
    for u, v in zip(ga, gb):
        torch.testing.assert_close(v, u, rtol=1e-4, atol=1e-4 * u.abs().max().item())


def test_zero_offset_is_a_plain_convolution():
    _, new = _pair(6, 4, 3, padding=1, groups=2)
    x = torch.randn(1, 6, 7, 5)
    out = new(x, torch.zeros(1, 18, 7, 5))
    torch.testing.assert_close(out, torch.nn.functional.conv2d(x, new.weight, padding=1, groups=2),
                               rtol=1e-5, atol=1e-5)


def test_impl_selection_and_errors():
    ref, new = _pair(4, 4, 3, padding=1)
    x, offset = torch.randn(1, 4, 5, 5), torch.randn(1, 18, 5, 5)
    new.impl = 'mmcv'
    assert torch.equal(new(x, offset), ref(x, offset))  # delegates to mmcv's kernel
    with pytest.raises(ValueError, match="impl='cudnn'"):
        GridSampleDeformConv2d(4, 4, 3, impl='cudnn')
    new.impl = 'auto'  # CPU input: the grid_sample path, which checks the offset's shape
    with pytest.raises(ValueError, match=r'offset has shape \(1, 18, 4, 4\), expected '
                                         r'\(1, 18, 5, 5\)'):
        new(x, offset[:, :, :4, :4])


def test_samkr_head_uses_it_and_matches_the_mmcv_kernel():
    kw = dict(type='SAMKRHead', in_channels=8, num_keypoints=3,
              num_displacement_filters_per_keypoint=4, num_subspaces=2)
    torch.manual_seed(0)
    fast = MODELS.build(kw).eval()
    stock = MODELS.build(dict(kw, deform_conv_impl='mmcv')).eval()
    blocks = [m for m in fast.modules() if isinstance(m, AdaptiveActivationBlock)]
    assert len(blocks) == 2
    assert all(type(b.adapt_conv) is GridSampleDeformConv2d and b.adapt_conv.impl == 'auto'
               for b in blocks)
    stock.load_state_dict(fast.state_dict())  # strict: identical keys
    with torch.no_grad():
        # random transform convs, so the adaptive blocks really deform
        for b in blocks:
            b.transform_matrix_conv.weight.normal_(0, 0.3)
        stock.load_state_dict(fast.state_dict())
        x = (torch.randn(2, 8, 11, 9), )
        (h1, d1), (h2, d2) = fast.forward(x), stock.forward(x)
    torch.testing.assert_close(h1, h2)
    torch.testing.assert_close(d1, d2, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="deform_conv_impl='fast'"):
        MODELS.build(dict(kw, deform_conv_impl='fast'))


def test_convert_deform_convs_on_stock_dekr_blocks():
    torch.manual_seed(0)
    block = AdaptiveActivationBlock(8, 8, groups=2).eval()
    with torch.no_grad():
        block.transform_matrix_conv.weight.normal_(0, 0.3)
    x = torch.randn(2, 8, 7, 6)
    with torch.no_grad():
        ref = block(x)
    weight = block.adapt_conv.weight
    assert convert_deform_convs(block) is block
    assert type(block.adapt_conv) is GridSampleDeformConv2d
    assert block.adapt_conv.weight is weight  # the same Parameter, so optimisers keep it
    assert not block.adapt_conv.training
    with torch.no_grad():
        torch.testing.assert_close(block(x), ref, rtol=1e-5, atol=1e-5)
    # a bare DeformConv2d is returned converted; anything else is left alone
    conv = DeformConv2d(4, 4, 3, padding=1)
    assert type(convert_deform_convs(conv, impl='mmcv')) is GridSampleDeformConv2d
    lin = torch.nn.Linear(2, 2)
    assert convert_deform_convs(lin) is lin


def test_benchmark_pairs_with_equal_kernels(capsys, monkeypatch):
    """``samkr-w32-gs``: stock DEKR converted to the grid_sample kernel; ``-mmcv``: SAMKR on mmcv's."""
    import importlib.util
    from pathlib import Path

    import mmpose_attn.models.layers as layers
    converted = []

    def spy(model, *args, **kwargs):
        converted.append(convert_deform_convs(model, *args, **kwargs))
        return converted[-1]

    monkeypatch.setattr(layers, 'convert_deform_convs', spy)
    path = Path(__file__).resolve().parents[1] / 'tools' / 'analysis' / 'benchmark.py'
    spec = importlib.util.spec_from_file_location('benchmark_gs', path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(['--pairs', 'samkr-w32-gs', 'samkr-w32-mmcv', '--bu-batches', '1',
                      '--bu-shape', '64', '64', '--repeats', '1', '--warmup', '0',
                      '--predict-batch', '0'])
    labels = [(r['ours_label'], r['anchor_label']) for r in out['forward']]
    assert labels == [('SAMKR-W32', 'DEKR-W32[grid-sample]'), ('SAMKR-W32[mmcv-dcn]', 'DEKR-W32')]
    assert 'DEKR-W32[grid-sample]' in capsys.readouterr().out
    (dekr, ) = converted  # only the -gs anchor is converted
    kinds = {type(m).__name__ for m in dekr.modules()}
    assert type(dekr.head).__name__ == 'DEKRHead'
    assert 'GridSampleDeformConv2d' in kinds and 'DeformConv2d' not in kinds
