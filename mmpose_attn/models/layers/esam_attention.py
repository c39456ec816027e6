"""ESAM attention: channel gate (CAM), spatial gate (SAM) and the residual stage attention.

From "Efficient Spatial-Attention Module for Human Pose Estimation" (Tran, Vo, Nguyen, Jo,
IW-FCV 2021). The modules follow timm's ``layers/cbam.py``: small blocks whose ratios and kernels
are constructor arguments, with an ``attention()`` method that returns the gate map and a
``forward()`` that applies it.

Reading of the paper used here:

* **CAM**: ``x * sigmoid(fc2(relu(fc1(avgpool(x)))))`` with ``fc1: C -> C/r`` (r = 16) and
  ``fc2: C/r -> C`` as 1x1 convs (SE/CBAM style, average pooling only as the paper describes).
* **SAM**: ``x * sigmoid(convs(mean_c(x)))`` - the channel mean (N, 1, H, W) goes through the
  kernel layout chosen by ``layout`` (Table 1 of the paper):

  - ``'k7'``: one 7x7 conv - the earlier "fine-tuning AM" (CBAM-like, 49 + 1 weights).
  - ``'serial3x3'`` (default, the paper's "new AM"): two 3x3 convs in series. They are linear
    with no activation between them: a ReLU between two single-channel convs would zero the map
    wherever the first conv is negative and kill the gradient there; without it the pair is a
    rank-limited 5x5 window with 18 + 2 weights instead of 49 + 1.
  - ``'parallel3x3'``: two 3x3 convs applied to the same mean map, combined by **adding their
    logits before one sigmoid** (how CBAM merges its parallel avg/max branches, so the map stays
    one gate in (0, 1)). Two undilated 3x3 convs summed would collapse to a single 3x3 conv, so
    the second branch is dilated by 2 (see ``SAM_LAYOUTS``): the pair then covers the same
    5x5 window as the serial layout with the same 18 + 2 weights, and the two layouts differ only
    in how that window is composed (sum of a dense and a dilated 3x3 vs. their composition).

* **Stage attention**: ``y = F + SAM(CAM(F))`` - SAM acts on the channel-attended map and the
  result is added to the map that entered the module (the paper's "combines these two feature
  maps ... and gives them to the next stage"). The residual keeps the ImageNet-pretrained
  features flowing when the gates are still untrained (y = F * (1 + c * s) with c, s in (0, 1)).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpose.registry import MODELS
from torch import Tensor

#: ``layout name -> (mode, kernel sizes, dilations)`` of the spatial gate.
SAM_LAYOUTS: Dict[str, Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = {
    'serial3x3': ('serial', (3, 3), (1, 1)),
    'k7': ('serial', (7, ), (1, )),
    'parallel3x3': ('parallel', (3, 3), (1, 2)),
}


@MODELS.register_module()
class ChannelGate(BaseModule):
    """Channel attention (CAM): global average pool -> 1x1 conv C->C/r -> ReLU -> 1x1 conv
    C/r->C -> sigmoid -> multiply.

    Args:
        channels (int): C, channels of the input.
        reduction (int): r, the squeeze ratio. Defaults to 16.
        init_cfg (dict, optional): mmengine init config. Defaults to None (PyTorch init).

    Shapes: input (N, C, H, W); ``attention()`` -> (N, C, 1, 1); ``forward()`` -> (N, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 16, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if channels < 1 or reduction < 1:
            raise ValueError(f'ChannelGate needs channels >= 1 and reduction >= 1, '
                             f'got channels={channels}, reduction={reduction}')
        mid = max(channels // reduction, 1)
        self.fc1 = nn.Conv2d(channels, mid, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(mid, channels, 1)

    def attention(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> gate (N, C, 1, 1) in (0, 1), one value per channel."""
        N, C = x.shape[:2]
        # the 1x1 convs applied as linear layers to the pooled (N, C) vector: same weights, but
        # CPU conv kernels on 1x1 maps cost ~1000x a GEMV in per-call overhead
        hidden = self.act(F.linear(x.mean((2, 3)), self.fc1.weight.flatten(1), self.fc1.bias))
        out = F.linear(hidden, self.fc2.weight.flatten(1), self.fc2.bias)
        return out.sigmoid().view(N, C, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention(x)


@MODELS.register_module()
class SpatialGate(BaseModule):
    """Spatial attention (SAM): channel mean -> conv(s) per ``layout`` -> sigmoid -> multiply.

    Args:
        layout (str): kernel layout, one of ``'serial3x3'`` (default: two 3x3 in series),
            ``'k7'`` (one 7x7) or ``'parallel3x3'`` (a 3x3 and a dilation-2 3x3 on the same
            input, logits added before the sigmoid). See the module docstring for why.
        init_cfg (dict, optional): mmengine init config. Defaults to None (PyTorch init).

    Shapes: input (N, C, H, W); ``attention()`` -> (N, 1, H, W); ``forward()`` -> (N, C, H, W).
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

    def attention(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> gate (N, 1, H, W) in (0, 1), one value per position."""
        s = x.mean(1, keepdim=True)
        if self.mode == 'parallel':
            logits = sum(conv(s) for conv in self.convs)
        else:
            logits = s
            for conv in self.convs:
                logits = conv(logits)
        return logits.sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention(x)


@MODELS.register_module()
class StageAttention(BaseModule):
    """ESAM stage attention ``y = F + SAM(CAM(F))`` (see the module docstring).

    Args:
        channels (int): C, channels of the stage output F.
        reduction (int): CAM squeeze ratio r. Defaults to 16.
        sam_layout (str): SAM kernel layout (``'serial3x3'`` | ``'k7'`` | ``'parallel3x3'``).
        init_cfg (dict, optional): mmengine init config.

    Shapes: (N, C, H, W) -> (N, C, H, W).
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
        xc = self.channel_gate(x)
        # F + CAM(F) * s in one fused op: no separate tensor for SAM(CAM(F)).
        return torch.addcmul(x, xc, self.spatial_gate.attention(xc))


__all__: Sequence[str] = ['ChannelGate', 'SpatialGate', 'StageAttention', 'SAM_LAYOUTS']
