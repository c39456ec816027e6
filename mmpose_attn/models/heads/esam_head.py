"""ESAM heatmap head: SimpleBaseline's head with bilinear up-sampling instead of deconvolutions."""
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_conv_layer
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

    Layer order: ``upsample_layers`` (one block per entry of ``upsample_out_channels``) ->
    ``conv_layers`` (HeatmapHead's optional intermediate convs, none by default) ->
    ``final_layer`` (1x1 conv to K). Flip test, decoding, loss and accuracy are HeatmapHead's,
    unchanged.

    **Why four 3x3 convs.** The paper reports 30.7 M params for ESAM-R50 and 49.7 M for ESAM-R101
    (SimpleBaseline-R50: 34.0 M). The backbones hold 23.51 M / 42.50 M and the four CAMs (r = 16)
    0.70 M, so the head must hold ~6.5 M in both cases (counts with ``sum(p.numel())``):

    ==============================================  ===========  =======  =======
    head layout (+ 1x1 conv 256->17, 4.4 k)         head params  R50      R101
    ==============================================  ===========  =======  =======
    3 deconv 4x4 2048-256-256-256 (SimpleBaseline)  10.49 M      34.70 M  53.69 M
    3 blocks, 3x3 conv 2048-256-256-256             5.90 M       30.11 M  49.10 M
    **4 blocks, 3x3 conv 2048-256-256-256-256**     **6.49 M**   30.70 M  49.70 M
    ==============================================  ===========  =======  =======

    Only four 3x3 convs (one 2048->256, three 256->256) land within 1 % of both numbers; 4x4
    kernels or fewer convs miss by 2 % or more. Four convs but three x2 up-samplings means one
    block keeps its resolution (``scale_factors`` entry 1).

    **Where the convs run (speed).** Order and scales do not change the parameters, only the
    resolution each conv sees. Default: ``upsample_order='conv_first'``,
    ``scale_factors=(1, 2, 2, 2)``: 2048->256 and 256->256 at 8x6, then 256->256 at 8x6, 16x12
    and 32x24 each followed by a x2 bilinear up-sampling, 0.84 GMACs per 256x192 crop vs 1.43 for
    SimpleBaseline's deconvs; this keeps ESAM-R50 (with its attention) no slower than
    SimpleBaseline-R50. ``upsample_order='interp_first'`` (2.6 GMACs) runs the last conv at 64x48
    and costs about as much as the deconv head; with ``conv_first`` the 64x48 heatmaps are a
    bilinear enlargement of 32x24 logits, as in the paper's "bilinear up-sampling" head.

    Args:
        in_channels (int): channels of the last backbone feature map.
        out_channels (int): K, the number of keypoints.
        upsample_out_channels (Sequence[int]): output channels of each block.
            Defaults to ``(256, 256, 256, 256)``.
        upsample_kernel_sizes (Sequence[int]): conv kernel (odd) of each block.
            Defaults to ``(3, 3, 3, 3)``.
        upsample_order (str): ``'conv_first'`` (conv -> BN -> ReLU -> interpolate, default) or
            ``'interp_first'`` (interpolate -> conv -> BN -> ReLU).
        scale_factors (int | Sequence[int], optional): bilinear up-sampling factor of each block; 1
            makes a plain conv block. Defaults to None: a total of x8 (stride-32 features to the
            stride-4 heatmaps of mmpose's top-down codecs) as x2 in the last three blocks and 1 in
            the blocks before them, i.e. ``(1, 2, 2, 2)`` for four blocks, ``(1, 1, 2, 2, 2)`` for
            five, ``(2, 2, 2)`` for three; ``(2, 4)`` for two blocks, ``(8, )`` for one.
        conv_out_channels (Sequence[int], optional): intermediate convs after the blocks, as in
            HeatmapHead. Defaults to None.
        conv_kernel_sizes (Sequence[int], optional): their kernels. Defaults to None.
        final_layer (dict): arguments of the final conv. Defaults to ``dict(kernel_size=1)``.
        loss (dict): keypoint loss config. Defaults to ``KeypointMSELoss`` with target weights.
        decoder (dict, optional): codec config used to decode heatmaps.
        init_cfg (dict, optional): init config; HeatmapHead's default (Normal std 0.001 for
            convs, BN weight 1) when None.

    Shapes: ``feats[-1]`` (N, in_channels, h, w) -> heatmaps (N, K, h * S, w * S) with S the
    product of ``scale_factors``; (N, 2048, 8, 6) -> (N, 17, 64, 48) by default.
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
        self.scale_factors = tuple(scale_factors)

        blocks = []
        channels = in_channels
        for out_ch, kernel, scale in zip(upsample_out_channels, upsample_kernel_sizes,
                                         scale_factors):
            conv = [
                nn.Conv2d(channels, out_ch, kernel, padding=kernel // 2, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True)
            ]
            # a scale of 1 makes a plain conv block (e.g. a channel reduction before up-sampling)
            interp = [nn.Upsample(scale_factor=scale, mode='bilinear', align_corners=False)
                      ] if scale > 1 else []
            blocks.append(nn.Sequential(*(conv + interp if upsample_order == 'conv_first' else
                                          interp + conv)))
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
        """(..., (N, C, h, w)) -> heatmaps (N, K, h * S, w * S), S = prod(scale_factors)."""
        heatmaps = self.final_layer(self.conv_layers(self.upsample_layers(feats[-1])))
        # fp32 out of autocast: the MSE loss stays fp32, and mmpose's accuracy converts the
        # heatmaps with numpy, which has no bfloat16 (a no-op without autocast)
        return heatmaps.float()
