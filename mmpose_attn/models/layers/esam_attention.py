"""ESAM's channel gate (CAM), spatial gate (SAM) and residual stage attention."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpose.models.backbones.utils import SELayer
from mmpose.registry import MODELS
from torch import Tensor

#: ``layout name -> (mode, kernel sizes, dilations)`` of the spatial gate.
SAM_LAYOUTS: Dict[str, Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = {
    'serial3x3': ('serial', (3, 3), (1, 1)),
    'k7': ('serial', (7, ), (1, )),
    'parallel3x3': ('parallel', (3, 3), (1, 2)),
}


@MODELS.register_module()
class ChannelGate(SELayer, BaseModule):
    """ESAM's channel attention module (CAM): mmpose's :class:`SELayer`.

    "Efficient Spatial-Attention Module for Human Pose Estimation" (Tran et al., IW-FCV 2021):
    ``x * sigmoid(conv2(relu(conv1(avgpool(x)))))`` with 1x1 convs C -> C/r -> C.

    Args:
        channels (int): C, channels of the input.
        reduction (int): r, the squeeze ratio; C/r is at least 1. Defaults to 16.
        init_cfg (dict, optional): mmengine init config. Defaults to None (the convs keep
            ConvModule's kaiming init, zero bias, as in SELayer).

    Shapes:
        input (N, C, H, W) -> output (N, C, H, W); ``conv2``'s output (the gate, in (0, 1)) and
        ``attention()`` (N, C, 1, 1).
    """

    # version 2: the 1x1 convs moved from fc1/fc2 to conv1.conv/conv2.conv
    _version = 2

    def __init__(self, channels: int, reduction: int = 16, init_cfg: Optional[dict] = None):
        if channels < 1 or reduction < 1:
            raise ValueError(f'ChannelGate needs channels >= 1 and reduction >= 1, '
                             f'got channels={channels}, reduction={reduction}')
        # SELayer squeezes to int(channels / ratio): at least one channel when C < r
        super().__init__(channels, ratio=min(reduction, channels))
        self.init_cfg = init_cfg

    def attention(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> gate (N, C, 1, 1) in (0, 1), one value per channel."""
        return self.conv2(self.conv1(self.global_avgpool(x)))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs):
        """Load version-1 checkpoints too: their ``fc1``/``fc2`` keys are renamed to the
        conv modules.
        """
        if local_metadata.get('version', 1) < 2:
            for old, new in (('fc1.', 'conv1.conv.'), ('fc2.', 'conv2.conv.')):
                for name in ('weight', 'bias'):
                    if prefix + old + name in state_dict:
                        state_dict[prefix + new + name] = state_dict.pop(prefix + old + name)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args, **kwargs)


@MODELS.register_module()
class SpatialGate(BaseModule):
    """ESAM's spatial attention module (SAM): channel mean -> conv(s) -> sigmoid -> multiply.

    "Efficient Spatial-Attention Module for Human Pose Estimation" (Tran et al., IW-FCV 2021);
    the layouts are its Table 1's, read as in configs/esam/README.md.

    Args:
        layout (str): kernel layout, one of ``'serial3x3'`` (default: two 3x3 in series),
            ``'k7'`` (one 7x7) or ``'parallel3x3'`` (a 3x3 and a dilation-2 3x3 on the same
            input, logits added before the sigmoid).
        init_cfg (dict, optional): mmengine init config. Defaults to None (PyTorch init).

    Shapes:
        input (N, C, H, W) -> output (N, C, H, W); ``sigmoid``'s output (the gate, in (0, 1))
        and ``attention()`` (N, 1, H, W).
    """

    def __init__(self, layout: str = 'serial3x3', init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if layout not in SAM_LAYOUTS:
            raise ValueError(f'SpatialGate: unknown sam_layout {layout!r}; '
                             f'choose one of {sorted(SAM_LAYOUTS)}')
        self.layout = layout
        self.mode, kernels, dilations = SAM_LAYOUTS[layout]
        self.convs = nn.ModuleList(
            nn.Conv2d(1, 1, k, padding=d * (k - 1) // 2, dilation=d)
            for k, d in zip(kernels, dilations))
        self.sigmoid = nn.Sigmoid()

    def attention(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> gate (N, 1, H, W) in (0, 1), one value per position."""
        s = x.mean(1, keepdim=True)
        if self.mode == 'parallel':
            logits = sum(conv(s) for conv in self.convs)
        else:
            logits = s
            for conv in self.convs:
                logits = conv(logits)
        return self.sigmoid(logits)

    def forward(self, x: Tensor) -> Tensor:
        """The input gated by its spatial attention map.

        Shapes: (N, C, H, W) -> (N, C, H, W).
        """
        return x * self.attention(x)


@MODELS.register_module()
class StageAttention(BaseModule):
    """ESAM's stage attention ``y = F + SAM(CAM(F))``, after a ResNet stage.

    "Efficient Spatial-Attention Module for Human Pose Estimation" (Tran et al., IW-FCV 2021);
    the residual form is read as in configs/esam/README.md.

    Args:
        channels (int): C, channels of the stage output F.
        reduction (int): CAM squeeze ratio r. Defaults to 16.
        sam_layout (str): SAM kernel layout (``'serial3x3'`` | ``'k7'`` | ``'parallel3x3'``).
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self,
                 channels: int,
                 reduction: int = 16,
                 sam_layout: str = 'serial3x3',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        self.channel_gate = ChannelGate(channels, reduction)
        self.spatial_gate = SpatialGate(sam_layout)

    def forward(self, x: Tensor) -> Tensor:
        """``F + SAM(CAM(F))``.

        Shapes: (N, C, H, W) -> (N, C, H, W).
        """
        xc = self.channel_gate(x)
        return torch.addcmul(x, xc, self.spatial_gate.attention(xc))


__all__: Sequence[str] = ['ChannelGate', 'SpatialGate', 'StageAttention', 'SAM_LAYOUTS']
