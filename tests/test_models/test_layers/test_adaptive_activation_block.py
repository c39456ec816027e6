"""ChannelFirstAdaptiveActivationBlock: mmpose's AdaptiveActivationBlock's offsets, outputs and
gradients without the 6-D permutes; same state dict, so SAMKR checkpoints of the stock block
load strictly and predict the same."""
import pytest
import torch
from mmcv.ops import DeformConv2d
from mmengine.runner import load_checkpoint
from mmpose.models.heads.hybrid_heads.dekr_head import AdaptiveActivationBlock
from mmpose.registry import MODELS
from mmpose.utils import register_all_modules

import mmpose_attn  # noqa: F401  (registers SAMKRHead and the block)
from mmpose_attn.models.layers import (ChannelFirstAdaptiveActivationBlock, GridSampleDeformConv2d,
                                       convert_adaptive_activation_blocks, convert_deform_convs)
from mmpose_attn.models.layers.adaptive_activation_block import offset_matrix

torch.set_num_threads(2)
register_all_modules()


def _stock_offsets(block, x):
    """The offsets mmpose's forward hands to ``adapt_conv``, captured by a forward hook."""
    seen = []
    handle = block.adapt_conv.register_forward_hook(lambda m, args, out: seen.append(args[1]))
    block(x)
    handle.remove()
    return seen[0]


def test_offset_matrix_is_the_regular_matrix_with_mmcvs_order():
    block = AdaptiveActivationBlock(6, 6, groups=1)
    M = offset_matrix(block.regular_matrix)
    R = block.regular_matrix
    assert M.shape == (18, 6)
    for k in range(9):
        # tap k: y offset from the affine matrix's first row, x offset from its second
        assert torch.equal(M[2 * k], torch.cat((R[:, k], torch.zeros(3))))
        assert torch.equal(M[2 * k + 1], torch.cat((torch.zeros(3), R[:, k])))


@pytest.mark.parametrize('deform', ['mmcv', 'grid_sample'])
def test_equals_stock_block_forward_and_backward(deform):
    torch.manual_seed(0)
    stock = AdaptiveActivationBlock(12, 12, groups=3)
    with torch.no_grad():  # random affine matrices: the offsets are several pixels
        stock.transform_matrix_conv.weight.normal_(0, 0.3)
        stock.norm.running_mean.normal_()
    new = ChannelFirstAdaptiveActivationBlock(12, 12, groups=3)
    new.load_state_dict(stock.state_dict(), strict=True)
    stock.load_state_dict(new.state_dict(), strict=True)
    if deform == 'grid_sample':
        convert_deform_convs(stock, 'grid_sample')
        convert_deform_convs(new, 'grid_sample')
    x = torch.randn(2, 12, 9, 7)
    seen = []
    new.adapt_conv.register_forward_hook(lambda m, args, out: seen.append(args[1]))
    for training in (False, True):
        stock.train(training)
        new.train(training)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        a, b = stock(xa), new(xb)
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)
        ga = torch.autograd.grad(a.square().sum(), [xa, *stock.parameters()])
        gb = torch.autograd.grad(b.square().sum(), [xb, *new.parameters()])
        for u, v in zip(ga, gb):
            torch.testing.assert_close(v, u, rtol=1e-5, atol=1e-5 * u.abs().max().item())
    with torch.no_grad():
        ref = _stock_offsets(stock.eval(), x)
    assert seen[0].shape == ref.shape == (2, 3 * 18, 9, 7)
    assert ref.abs().max() > 2  # real deformation
    torch.testing.assert_close(seen[0], ref, rtol=1e-6, atol=1e-6)


def test_convert_changes_only_the_class():
    torch.manual_seed(0)
    stock = AdaptiveActivationBlock(8, 8, groups=2).eval()
    params = dict(stock.named_parameters())
    keys = list(stock.state_dict())
    outer = torch.nn.Sequential(stock, torch.nn.ReLU())
    assert convert_adaptive_activation_blocks(outer) is outer
    assert type(stock) is ChannelFirstAdaptiveActivationBlock
    assert type(stock.adapt_conv) is DeformConv2d  # the deform conv is left as it was
    assert list(stock.state_dict()) == keys
    assert all(p is params[n] for n, p in stock.named_parameters())


def _samkr_head():
    return MODELS.build(
        dict(
            type='SAMKRHead',
            in_channels=8,
            num_keypoints=3,
            num_displacement_filters_per_keypoint=4,
            num_subspaces=2)).eval()


def test_samkr_checkpoint_of_the_stock_block_loads_strictly_and_predicts_the_same(tmp_path):
    torch.manual_seed(0)
    old = _samkr_head()
    blocks = [m for m in old.modules() if isinstance(m, AdaptiveActivationBlock)]
    assert len(blocks) == 2
    assert all(type(b) is ChannelFirstAdaptiveActivationBlock for b in blocks)
    assert all(type(b.adapt_conv) is GridSampleDeformConv2d for b in blocks)
    with torch.no_grad():
        for b in blocks:
            b.transform_matrix_conv.weight.normal_(0, 0.3)
            b.__class__ = AdaptiveActivationBlock  # the head as the previous version built it
    ckpt = tmp_path / 'old.pth'
    torch.save(dict(state_dict=old.state_dict(), meta=dict()), ckpt)
    torch.manual_seed(1)
    new = _samkr_head()
    load_checkpoint(new, str(ckpt), map_location='cpu', strict=True)
    x = (torch.randn(2, 8, 11, 9), )
    with torch.no_grad():
        (h_old, d_old), (h_new, d_new) = old.forward(x), new.forward(x)
    torch.testing.assert_close(h_new, h_old, rtol=0, atol=0)
    torch.testing.assert_close(d_new, d_old, rtol=1e-6, atol=1e-6)
    assert d_old.abs().max() > 0
