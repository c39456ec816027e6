"""DEKR's adaptive activation block with its deformable-conv offsets computed channel-first.

One constant (18, 6) matrix per group on the (B, G, 6, H*W) view replaces mmpose's 6-D transposes:
equal values, same parameters and buffers (checkpoints load either way); see docs/inference.md.
"""
import torch
from mmpose.models.heads.hybrid_heads.dekr_head import AdaptiveActivationBlock
from mmpose.registry import MODELS
from torch import Tensor, nn


def offset_matrix(regular_matrix: Tensor) -> Tensor:
    """The (18, 6) matrix mapping one group's affine matrix to its 9 (y, x) offsets.

    Row ``2k + r`` (tap k, r = 0 for y, 1 for x), column ``3r' + c`` (the affine matrix's row
    r', column c) holds ``regular_matrix[c, k]`` where r = r', else 0.

    Args:
        regular_matrix (Tensor): (3, 9), the block's ``regular_matrix`` buffer.
    """
    eye = torch.eye(2, dtype=regular_matrix.dtype, device=regular_matrix.device)
    taps = regular_matrix.t()  # (9, 3)
    return (taps[:, None, None, :] * eye[None, :, :, None]).reshape(18, 6)


@MODELS.register_module()
class ChannelFirstAdaptiveActivationBlock(AdaptiveActivationBlock):
    """:class:`AdaptiveActivationBlock` ("Bottom-up human pose estimation via disentangled
    keypoint regression", CVPR'2021) whose offsets are computed without leaving the
    channel-first layout (see the module docstring); same arguments, parameters and outputs.

    Args:
        in_channels, out_channels, groups, norm_cfg, act_cfg, init_cfg: as
            :class:`AdaptiveActivationBlock`.

    Shapes:
        x (B, in_channels, H, W) -> (B, out_channels, H, W); the offsets handed to
        ``adapt_conv`` are (B, 18*groups, H, W) in mmcv's order.
    """

    def forward(self, x: Tensor) -> Tensor:
        B, _, H, W = x.shape
        affine = self.transform_matrix_conv(x)  # (B, 6*G, H, W): per group a 2x3 matrix
        # reshape, not view: under channels_last the conv output is not contiguous
        offset = torch.matmul(
            offset_matrix(self.regular_matrix).to(affine.dtype),
            affine.reshape(B, self.groups, 6, H * W))
        offset = offset.reshape(B, self.groups * 18, H, W)
        out = self.norm(self.adapt_conv(x, offset))
        return self.act(out + x)


def convert_adaptive_activation_blocks(module: nn.Module) -> nn.Module:
    """Make every mmpose :class:`AdaptiveActivationBlock` in ``module`` a
    :class:`ChannelFirstAdaptiveActivationBlock`, in place.

    Only the class changes (the subclass adds no parameters), so weights, buffers, hooks and
    state-dict keys stay as they are and outputs are equal. Subclasses other than this one are
    left alone: they may compute differently.

    Returns:
        nn.Module: ``module``.
    """
    for m in module.modules():
        if type(m) is AdaptiveActivationBlock:
            m.__class__ = ChannelFirstAdaptiveActivationBlock
    return module
