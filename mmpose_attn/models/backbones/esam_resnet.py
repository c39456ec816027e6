"""ESAM backbone: mmpose's ResNet with a stage attention after (some of) its four stages."""
from typing import Optional, Sequence, Tuple

from mmpose.models.backbones import ResNet
from mmpose.registry import MODELS
from torch import Tensor

from ..layers.esam_attention import StageAttention


@MODELS.register_module()
class ESAMResNet(ResNet):
    """ResNet whose stages are each followed by :class:`StageAttention` (``y = F + SAM(CAM(F))``).

    All ResNet arguments (``depth`` in {18, 34, 50, 101, 152}, ``out_indices``, ``frozen_stages``,
    ``init_cfg`` ...) behave as in :class:`mmpose.models.backbones.ResNet`. The ResNet modules keep
    their names, so a stock mmpose/torchvision ResNet state dict (e.g. ``torchvision://resnet50``)
    loads with only the ``attn*`` keys missing. Attention modules are named ``attn1`` ..
    ``attn4`` after the stage they follow and exist only for enabled stages.

    Args:
        depth (int): ResNet depth.
        attention_stages (Sequence[bool], optional): one flag per stage (``num_stages`` of them):
            put a stage attention after it. Defaults to None: after every stage.
        reduction (int): CAM squeeze ratio r. Defaults to 16.
        sam_layout (str): SAM kernel layout, ``'serial3x3'`` (default) | ``'k7'`` |
            ``'parallel3x3'``; see :mod:`mmpose_attn.models.layers.esam_attention`.
        **kwargs: passed to :class:`ResNet`.

    Shapes: input (N, 3, H, W) -> tuple of (N, C_i, H / 2^(i+2), W / 2^(i+2)) for i in
    ``out_indices`` (C_i = 256 * 2^i for Bottleneck depths, 64 * 2^i for 18/34).
    """

    def __init__(self,
                 depth: int,
                 attention_stages: Optional[Sequence[bool]] = None,
                 reduction: int = 16,
                 sam_layout: str = 'serial3x3',
                 **kwargs):
        super().__init__(depth, **kwargs)
        if attention_stages is None:
            attention_stages = (True, ) * self.num_stages
        attention_stages = tuple(bool(a) for a in attention_stages)
        if len(attention_stages) != self.num_stages:
            raise ValueError(f'ESAMResNet: attention_stages needs one flag per stage '
                             f'(num_stages={self.num_stages}), got {attention_stages}')
        self.attention_stages = attention_stages
        self.attn_layers = []
        for i, (layer_name, enabled) in enumerate(zip(self.res_layers, attention_stages)):
            if enabled:
                channels = getattr(self, layer_name)[-1].out_channels
                self.add_module(f'attn{i + 1}', StageAttention(channels, reduction, sam_layout))
            self.attn_layers.append(f'attn{i + 1}' if enabled else None)
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        # A frozen stage's attention is part of that stage's output, so freeze it as well.
        """Freeze the first ``frozen_stages`` stages and their attention modules."""
        super()._freeze_stages()
        for i in range(1, self.frozen_stages + 1):
            attn = getattr(self, f'attn{i}', None)  # absent while ResNet.__init__ runs
            if attn is not None:
                attn.eval()
                for param in attn.parameters():
                    param.requires_grad = False

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """ResNet's forward with each enabled stage's output passed through its attention."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, (layer_name, attn_name) in enumerate(zip(self.res_layers, self.attn_layers)):
            x = getattr(self, layer_name)(x)
            if attn_name is not None:
                x = getattr(self, attn_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
