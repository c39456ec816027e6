"""ESAM's heatmap head: bilinear up-sampling blocks instead of HeatmapHead's deconvolutions."""
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import (build_activation_layer, build_conv_layer, build_norm_layer,
                      build_upsample_layer)
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor

UPSAMPLE_ORDERS = ('conv_first', 'interp_first')


def default_scale_factors(num_blocks: int) -> Tuple[int, ...]:
    """Per-block up-sampling reaching x8 in total: x2 in the last three blocks, 1 before them.

    Fewer than three blocks share the x8 as ``(2, 4)`` or ``(8, )``; no block gives ``()``.
    """
    if num_blocks >= 3:
        return (1, ) * (num_blocks - 3) + (2, 2, 2)
    return {0: (), 1: (8, ), 2: (2, 4)}[num_blocks]


@MODELS.register_module()
class ESAMHead(HeatmapHead):
    """:class:`HeatmapHead` whose up-sampling blocks pair a bilinear interpolation with
    conv -> BN -> ReLU instead of a transposed conv.

    "Efficient Spatial-Attention Module for Human Pose Estimation" (Tran et al., IW-FCV 2021);
    the layout (four 3x3 conv blocks, x1 x2 x2 x2) and the block order are read from its
    parameter counts and efficiency claim as in configs/esam/README.md.

    Layers: ``upsample_layers`` (one block per entry of ``upsample_out_channels``) ->
    ``conv_layers`` -> ``final_layer``, the last two built by :class:`HeatmapHead` from the
    blocks' output channels. Flip test, decoding, loss and accuracy are HeatmapHead's.

    Args:
        in_channels (int): Channels of the last backbone feature map.
        out_channels (int): K, the number of keypoints.
        upsample_out_channels (Sequence[int]): Output channels of each block.
            Defaults to ``(256, 256, 256, 256)``.
        upsample_kernel_sizes (Sequence[int]): Conv kernel (odd) of each block.
            Defaults to ``(3, 3, 3, 3)``.
        upsample_order (str): ``'conv_first'`` (conv -> BN -> ReLU -> interpolate, default) or
            ``'interp_first'`` (interpolate -> conv -> BN -> ReLU).
        scale_factors (int | Sequence[int], optional): Bilinear up-sampling factor of each
            block; 1 makes a plain conv block. Defaults to None: x8 in total as x2 in the last
            three blocks and 1 before them (:func:`default_scale_factors`).
        conv_out_channels (Sequence[int], optional): Intermediate convs after the blocks, as in
            :class:`HeatmapHead`. Defaults to None.
        conv_kernel_sizes (Sequence[int], optional): Their kernels. Defaults to None.
        final_layer (dict): Arguments of the final conv. Defaults to ``dict(kernel_size=1)``.
        loss (dict): Keypoint loss config. Defaults to ``KeypointMSELoss`` with target weights.
        decoder (dict, optional): Codec config used to decode heatmaps.
        init_cfg (dict, optional): Init config; HeatmapHead's default when None.

    Shapes:
        ``feats[-1]`` (N, in_channels, h, w) -> heatmaps (N, K, h * S, w * S), S the product of
        ``scale_factors``; (N, 2048, 8, 6) -> (N, 17, 64, 48) by default.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 upsample_out_channels: Sequence[int] = (256, 256, 256, 256),
                 upsample_kernel_sizes: Sequence[int] = (3, 3, 3, 3),
                 upsample_order: str = 'conv_first',
                 scale_factors: Union[int, Sequence[int], None] = None,
                 conv_out_channels: Optional[Sequence[int]] = None,
                 conv_kernel_sizes: Optional[Sequence[int]] = None,
                 final_layer: Optional[dict] = dict(kernel_size=1),
                 loss: ConfigType = dict(type='KeypointMSELoss', use_target_weight=True),
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        if upsample_order not in UPSAMPLE_ORDERS:
            raise ValueError(f'ESAMHead: unknown upsample_order {upsample_order!r}; '
                             f'choose one of {UPSAMPLE_ORDERS}')
        if len(upsample_out_channels) != len(upsample_kernel_sizes):
            raise ValueError('ESAMHead: upsample_out_channels and upsample_kernel_sizes need the '
                             f'same length, got {upsample_out_channels} and '
                             f'{upsample_kernel_sizes}')
        if scale_factors is None:
            scale_factors = default_scale_factors(len(upsample_out_channels))
        if isinstance(scale_factors, int):
            scale_factors = (scale_factors, ) * len(upsample_out_channels)
        if len(scale_factors) != len(upsample_out_channels) or min(scale_factors, default=1) < 1:
            raise ValueError('ESAMHead: scale_factors needs one integer >= 1 per up-sampling '
                             f'block ({len(upsample_out_channels)}), got {scale_factors}')
        if any(k % 2 == 0 for k in upsample_kernel_sizes):
            raise ValueError('ESAMHead: upsample_kernel_sizes must be odd (same-size padding), '
                             f'got {upsample_kernel_sizes}')
        # HeatmapHead sizes its conv and final layers from the channels the blocks give it
        head_in = upsample_out_channels[-1] if upsample_out_channels else in_channels
        # HeatmapHead's arguments in its order; no deconv layers (the blocks up-sample)
        super().__init__(head_in, out_channels, None, (4, 4, 4), conv_out_channels,
                         conv_kernel_sizes, final_layer, loss, decoder, init_cfg)
        self.in_channels = in_channels
        self.upsample_order = upsample_order
        self.scale_factors = tuple(scale_factors)
        self.upsample_layers = self._make_upsample_layers(in_channels, upsample_out_channels,
                                                          upsample_kernel_sizes, self.scale_factors)

    def _make_upsample_layers(self, in_channels: int, layer_out_channels: Sequence[int],
                              layer_kernel_sizes: Sequence[int],
                              scale_factors: Sequence[int]) -> nn.Module:
        """One (conv -> BN -> ReLU, bilinear x scale) block per output channel count."""
        blocks = []
        for out_channels, kernel_size, scale in zip(layer_out_channels, layer_kernel_sizes,
                                                    scale_factors):
            conv = [
                build_conv_layer(
                    dict(type='Conv2d'),
                    in_channels,
                    out_channels,
                    kernel_size,
                    padding=kernel_size // 2,
                    bias=False),
                build_norm_layer(dict(type='BN'), out_channels)[1],
                build_activation_layer(dict(type='ReLU', inplace=True))
            ]
            # a scale of 1 makes a plain conv block (e.g. a channel reduction)
            interp = [
                build_upsample_layer(
                    dict(type='bilinear', scale_factor=scale, align_corners=False))
            ] if scale > 1 else []
            blocks.append(
                nn.Sequential(*(conv + interp if self.upsample_order == 'conv_first' else interp +
                                conv)))
            in_channels = out_channels
        return nn.Sequential(*blocks) if blocks else nn.Identity()

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        """(..., (N, C, h, w)) -> heatmaps (N, K, h * S, w * S), S = prod(scale_factors)."""
        heatmaps = super().forward((self.upsample_layers(feats[-1]), ))
        # fp32 out of autocast: the MSE loss stays fp32, and mmpose's accuracy converts the
        # heatmaps with numpy, which has no bfloat16 (a no-op without autocast)
        return heatmaps.float()
