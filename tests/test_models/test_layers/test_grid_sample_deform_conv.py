"""GridSampleDeformConv2d: the same numbers as mmcv's DeformConv2d, forward
and backward, for every argument DEKR/SAMKR and mmcv use; SAMKRHead runs on it and stays
interchangeable with stock DEKR's mmcv kernel."""
import pytest
import torch
from mmcv.ops import DeformConv2d
from mmpose.models.heads.hybrid_heads.dekr_head import AdaptiveActivationBlock
from mmpose.registry import MODELS
from mmpose.utils import register_all_modules

import mmpose_attn  # noqa: F401  (registers SAMKRHead)
from mmpose_attn.models.layers import GridSampleDeformConv2d, convert_deform_convs

torch.set_num_threads(2)
register_all_modules()


def _pair(*args, **kwargs):
    torch.manual_seed(0)
    ref = DeformConv2d(*args, **kwargs)
    new = GridSampleDeformConv2d(*args, impl='grid_sample', **kwargs)
    new.load_state_dict(ref.state_dict())  # the same keys: checkpoints move both ways
    return ref, new


@pytest.mark.parametrize(
    'args,kwargs,hw',
    [
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


@pytest.mark.parametrize('autocast', [False, True])
def test_channels_last_and_bf16_autocast(autocast):
    """Input, offset and weight in channels_last (as ``model.to(memory_format=...)`` leaves
    them), batch > 1, fp32, or bf16 under CPU bf16 autocast: mmcv's fp32 result, in fp32."""
    ref, new = _pair(12, 12, 3, padding=1, groups=3, deform_groups=3)
    new.to(memory_format=torch.channels_last)
    assert not new.weight.is_contiguous()
    x = torch.randn(2, 12, 9, 7)
    offset = 3 * torch.randn(2, 54, 9, 7)
    if autocast:  # as a bf16 convolution before it would hand them on
        x, offset = x.bfloat16(), offset.bfloat16()
    with torch.no_grad():
        a = ref(x.float(), offset.float())
        cl = torch.channels_last
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            b = new(x.contiguous(memory_format=cl), offset.contiguous(memory_format=cl))
    assert b.dtype == torch.float32  # the kernel runs in fp32 under autocast too
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_zero_offset_is_a_plain_convolution():
    _, new = _pair(6, 4, 3, padding=1, groups=2)
    x = torch.randn(1, 6, 7, 5)
    out = new(x, torch.zeros(1, 18, 7, 5))
    torch.testing.assert_close(
        out, torch.nn.functional.conv2d(x, new.weight, padding=1, groups=2), rtol=1e-5, atol=1e-5)


def test_impl_selection_and_errors():
    ref, new = _pair(4, 4, 3, padding=1)
    x, offset = torch.randn(1, 4, 5, 5), torch.randn(1, 18, 5, 5)
    new.impl = 'mmcv'
    assert torch.equal(new(x, offset), ref(x, offset))  # delegates to mmcv's kernel
    with pytest.raises(ValueError, match="impl='cudnn'"):
        GridSampleDeformConv2d(4, 4, 3, impl='cudnn')
    new.impl = 'auto'  # CPU input: the grid_sample path, which checks the offset's shape
    with pytest.raises(
            ValueError, match=r'offset has shape \(1, 18, 4, 4\), expected '
            r'\(1, 18, 5, 5\)'):
        new(x, offset[:, :, :4, :4])


def test_samkr_head_uses_it_and_matches_the_mmcv_kernel():
    kw = dict(
        type='SAMKRHead',
        in_channels=8,
        num_keypoints=3,
        num_displacement_filters_per_keypoint=4,
        num_subspaces=2)
    torch.manual_seed(0)
    fast = MODELS.build(kw).eval()
    stock = MODELS.build(dict(kw, deform_conv_impl='mmcv')).eval()
    blocks = [m for m in fast.modules() if isinstance(m, AdaptiveActivationBlock)]
    assert len(blocks) == 2
    assert all(
        type(b.adapt_conv) is GridSampleDeformConv2d and b.adapt_conv.impl == 'auto'
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
    """``samkr-w32-gs``: stock DEKR on the grid_sample kernel; ``-mmcv``: SAMKR on mmcv's."""
    import mmpose_attn.models.layers as layers
    converted = []

    def spy(model, *args, **kwargs):
        converted.append(convert_deform_convs(model, *args, **kwargs))
        return converted[-1]

    monkeypatch.setattr(layers, 'convert_deform_convs', spy)
    import benchmark as bench  # tools/analysis_tools, on pytest.ini's pythonpath
    out = bench.main([
        '--pairs', 'samkr-w32-gs', 'samkr-w32-mmcv', '--bu-batches', '1', '--bu-shape', '64', '64',
        '--repeats', '1', '--warmup', '0', '--predict-batch', '0'
    ])
    labels = [(r['ours_label'], r['anchor_label']) for r in out['forward']]
    assert labels == [('SAMKR-W32', 'DEKR-W32[grid-sample]'), ('SAMKR-W32[mmcv-dcn]', 'DEKR-W32')]
    assert 'DEKR-W32[grid-sample]' in capsys.readouterr().out
    (dekr, ) = converted  # only the -gs anchor is converted
    kinds = {type(m).__name__ for m in dekr.modules()}
    assert type(dekr.head).__name__ == 'DEKRHead'
    assert 'GridSampleDeformConv2d' in kinds and 'DeformConv2d' not in kinds


def _integer_position_grads(ref, new, H, W, offset):
    torch.manual_seed(1)
    x = torch.randn(1, ref.in_channels, H, W)
    grads = []
    for conv in (ref, new):
        off = offset.clone().requires_grad_()
        xi = x.clone().requires_grad_()
        out = conv(xi, off)
        # a random linear read-out, so every sampled pixel's gradient is distinct
        torch.manual_seed(2)
        out.mul(torch.randn_like(out)).sum().backward()
        grads.append((out.detach(), xi.grad, off.grad))
    return grads


@pytest.mark.parametrize('W', [11, 160])
@pytest.mark.parametrize('kind', ['zero', 'integer'])
def test_integer_sampling_positions_follow_mmcvs_gradient_rule(W, kind):
    """At exactly integer coordinates mmcv differentiates on the cell [p, p + 1] and returns 0 at
    p = -1; for widths that are not powers of two grid_sample's (2p+1)/W - 1 round trip lands
    at p - eps unless the input is padded to a power of two."""
    H = 7
    ref, new = _pair(2, 3, 3, padding=1, deform_groups=1)
    if kind == 'zero':
        offset = torch.zeros(1, 18, H, W)
    else:
        # whole-pixel offsets in [-3, 3]: many samples land exactly on -1, on the last pixel
        # and outside the image
        offset = torch.randint(-3, 4, (1, 18, H, W), generator=torch.Generator().manual_seed(0))
        offset = offset.float()
    (a, gxa, goa), (b, gxb, gob) = _integer_position_grads(ref, new, H, W, offset)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gxb, gxa, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gob, goa, rtol=1e-5, atol=1e-5)
    # the positions that exercise the rule are present: zero offsets put the padding taps
    # exactly at -1 (mmcv: zero gradient there)
    assert (goa == 0).any() and (goa != 0).any()


def test_without_the_padding_grid_sample_picks_the_lower_cell():
    """The difference the padding removes is real: plain grid_sample at W = 160, zero offset."""
    import torch.nn.functional as F
    W = 160
    p = torch.arange(W, dtype=torch.float32)
    back = ((((2 * p + 1) / W - 1) + 1) * W - 1) / 2  # ATen's unnormalisation, align_corners=False
    assert (back.floor() < p).any()
    x = torch.randn(1, 1, 1, W)
    gx = ((2 * p + 1) / W - 1).view(1, 1, W, 1)
    grid = torch.cat((gx, torch.zeros_like(gx)), dim=-1).requires_grad_()
    F.grid_sample(x, grid, align_corners=False).sum().backward()
    forward_diff = torch.cat((x[0, 0, 0, 1:] - x[0, 0, 0, :-1], -x[0, 0, 0, -1:])) * W / 2
    assert not torch.allclose(grid.grad[0, :, 0, 0], forward_diff, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    'impl,is_cuda,ops,expected',
    [
        ('auto', False, False, 'grid_sample'),
        ('auto', False, True, 'grid_sample'),
        ('auto', True, True, 'mmcv'),
        ('auto', True, False, 'grid_sample'),  # a CPU-only mmcv on a GPU machine: no crash
        ('grid_sample', True, True, 'grid_sample'),
        ('mmcv', False, False, 'mmcv'),  # mmcv's CPU kernel
        ('mmcv', True, True, 'mmcv'),
    ])
def test_choose_deform_conv_impl(impl, is_cuda, ops, expected):
    from mmpose_attn.models.layers.grid_sample_deform_conv import choose_deform_conv_impl
    assert choose_deform_conv_impl(impl, is_cuda, ops) == expected


def test_choose_deform_conv_impl_errors():
    from mmpose_attn.models.layers.grid_sample_deform_conv import choose_deform_conv_impl
    with pytest.raises(RuntimeError, match="impl='mmcv' on CUDA needs mmcv built with its CUDA"):
        choose_deform_conv_impl('mmcv', True, False)
    with pytest.raises(ValueError, match="impl='cuda'"):
        choose_deform_conv_impl('cuda', False, True)


def test_auto_logs_its_choice_once():
    from mmengine.logging import MMLogger

    from mmpose_attn.models.layers import grid_sample_deform_conv as gsdc
    gsdc._LOGGED.clear()
    logger = MMLogger.get_current_instance()
    records = []

    class Keep(__import__('logging').Handler):

        def emit(self, record):
            records.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    try:
        _, new = _pair(4, 4, 3, padding=1)
        new.impl = 'auto'
        x, offset = torch.randn(1, 4, 5, 5), torch.zeros(1, 18, 5, 5)
        new(x, offset)
        new(x, offset)
    finally:
        logger.removeHandler(handler)
    msgs = [r for r in records if 'GridSampleDeformConv2d' in r]
    assert msgs == ["GridSampleDeformConv2d: impl='auto' on cpu runs the grid_sample kernel"]
