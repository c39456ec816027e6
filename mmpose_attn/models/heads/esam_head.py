"""ESAM heatmap head: SimpleBaseline's head with bilinear up-sampling instead of deconvolutions."""
from typing import Optional, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import build_conv_layer
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor

UPSAMPLE_ORDERS = ('conv_first', 'interp_first')


@MODELS.register_module()
class ESAMHead(HeatmapHead):
    """:class:`HeatmapHead` whose up-sampling blocks pair a bilinear x2 interpolation with
    conv -> BN -> ReLU instead of a transposed conv.

    Layer order: ``upsample_layers`` (one block per entry of ``upsample_out_channels``) ->
    ``conv_layers`` (HeatmapHead's optional intermediate convs) -> ``final_layer`` (1x1 conv to
    K). Flip test, decoding, loss and accuracy are HeatmapHead's, unchanged.

    The default layout reproduces the paper's parameter counts (30.7 M for ESAM-R50, 49.7 M for
    ESAM-R101; SimpleBaseline-R50 has 34.0 M). Backbone + CAMs (r = 16) give 23.51 M + 0.70 M
    (R50) and 42.50 M + 0.70 M (R101), so the head must hold ~6.5 M:

    ============================================  ===========  ======  =======
    head layout                                   head params  R50     R101
    ============================================  ===========  ======  =======
    3 deconv 4x4 (SimpleBaseline)                 10.5 M       34.7 M  53.7 M
    3 blocks of 4x4 conv                          10.5 M       34.7 M  53.7 M
    3 blocks of 3x3 conv (2048-256-256-256)       5.90 M       30.1 M  49.1 M
    **3 blocks of 3x3 + one 3x3 256->256 conv**   **6.49 M**   30.7 M  49.7 M
    ============================================  ===========  ======  =======

    Only the last row is within 1 % of both numbers (the 1x1 to 17 channels adds 4.4 k). The
    extra 3x3 conv is HeatmapHead's own ``conv_layers`` option; it is the one conv that works at
    the full 64x48 heatmap resolution, without which (``conv_first`` order) the heatmaps would be
    a bilinear enlargement of 32x24 logits.

    Args:
        in_channels (int): channels of the last backbone feature map.
        out_channels (int): K, the number of keypoints.
        upsample_out_channels (Sequence[int]): output channels of each up-sampling block.
            Defaults to ``(256, 256, 256)``.
        upsample_kernel_sizes (Sequence[int]): conv kernel (odd) of each block.
            Defaults to ``(3, 3, 3)``.
        upsample_order (str): ``'conv_first'`` (conv -> BN -> ReLU -> interpolate, default) or
            ``'interp_first'`` (interpolate -> conv -> BN -> ReLU). Both have the same
            parameters; ``conv_first`` runs each conv at the lower resolution, ~1/4 of the MACs.
        scale_factor (int): up-sampling factor of each block. Defaults to 2.
        conv_out_channels (Sequence[int], optional): intermediate convs after the up-sampling,
            as in HeatmapHead. Defaults to ``(256, )``.
        conv_kernel_sizes (Sequence[int], optional): their kernels. Defaults to ``(3, )``.
        final_layer (dict): arguments of the final conv. Defaults to ``dict(kernel_size=1)``.
        loss (dict): keypoint loss config. Defaults to ``KeypointMSELoss`` with target weights.
        decoder (dict, optional): codec config used to decode heatmaps.
        init_cfg (dict, optional): init config; HeatmapHead's default (Normal std 0.001 for
            convs, BN weight 1) when None.

    Shapes: ``feats[-1]`` (N, in_channels, h, w) -> heatmaps (N, K, h * s^B, w * s^B) with
    s = ``scale_factor`` and B = ``len(upsample_out_channels)``; (N, 2048, 8, 6) ->
    (N, 17, 64, 48) by default.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 upsample_out_channels: Sequence[int] = (256, 256, 256),
                 upsample_kernel_sizes: Sequence[int] = (3, 3, 3),
                 upsample_order: str = 'conv_first',
                 scale_factor: int = 2,
                 conv_out_channels: Optional[Sequence[int]] = (256, ),
                 conv_kernel_sizes: Optional[Sequence[int]] = (3, ),
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
        if any(k % 2 == 0 for k in upsample_kernel_sizes):
            raise ValueError('ESAMHead: upsample_kernel_sizes must be odd (same-size padding), '
                             f'got {upsample_kernel_sizes}')
        # HeatmapHead builds conv/final layers on top of its deconvs; with no deconvs it would
        # size them from in_channels, so build the whole stack here instead.
        super().__init__(
            in_channels,
            out_channels,
            deconv_out_channels=None,
            conv_out_channels=None,
            final_layer=None,
            loss=loss,
            decoder=decoder,
            init_cfg=init_cfg)
        del self.deconv_layers
        self.upsample_order = upsample_order

        blocks = []
        channels = in_channels
        for out_ch, kernel in zip(upsample_out_channels, upsample_kernel_sizes):
            conv = [
                nn.Conv2d(channels, out_ch, kernel, padding=kernel // 2, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True)
            ]
            interp = nn.Upsample(scale_factor=scale_factor, mode='bilinear', align_corners=False)
            blocks.append(nn.Sequential(*(conv + [interp] if upsample_order == 'conv_first' else
                                          [interp] + conv)))
            channels = out_ch
        self.upsample_layers = nn.Sequential(*blocks) if blocks else nn.Identity()

        if conv_out_channels:
            if conv_kernel_sizes is None or len(conv_out_channels) != len(conv_kernel_sizes):
                raise ValueError('ESAMHead: conv_out_channels and conv_kernel_sizes need the same '
                                 f'length, got {conv_out_channels} and {conv_kernel_sizes}')
            self.conv_layers = self._make_conv_layers(channels, conv_out_channels,
                                                      conv_kernel_sizes)
            channels = conv_out_channels[-1]

        if final_layer is not None:
            cfg = dict(type='Conv2d', in_channels=channels, out_channels=out_channels,
                       kernel_size=1)
            cfg.update(final_layer)
            self.final_layer = build_conv_layer(cfg)

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        """(..., (N, C, h, w)) -> heatmaps (N, K, h * s^B, w * s^B)."""
        return self.final_layer(self.conv_layers(self.upsample_layers(feats[-1])))
