"""ULSAM: ultra-lightweight subspace attention, all subspaces of a tensor at once."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor, nn


class SpatialSoftmax(nn.Module):
    """Softmax over the H*W positions of each map.

    Shapes: (B, G, H, W) -> (B, G, H, W), each (b, g) map summing to 1.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Softmax of each (b, g) map over its H*W positions."""
        return x.flatten(2).softmax(dim=-1).view_as(x)


class SeparableMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d(kernel_size, stride=1, padding=kernel_size // 2)`` as a row then a column
    pass: the same values, without the CPU 2-D kernel's argmax indices (configs/samkr/README.md).

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, kernel_size: int = 3):
        super().__init__(kernel_size, stride=1, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        """Max over rows, then over columns (the 2-D pool of the same kernel)."""
        B, C, H, W = x.shape
        k, p = self.kernel_size, self.padding
        rows = F.max_pool1d(x.reshape(B * C, H, W), k, 1, p)
        return F.max_pool1d(rows.transpose(1, 2), k, 1, p).transpose(1, 2).reshape(B, C, H, W)


@MODELS.register_module()
class ULSAM(BaseModule):
    """Subspace attention over ``num_subspaces`` equal channel groups.

    "ULSAM: Ultra-Lightweight Subspace Attention Module for Compact Convolutional Neural Networks"
    (Saini et al., WACV 2020). Each subspace F of s = C / G channels gets
    ``F + F * softmax_HW(pw_conv(max_pool(dw_conv(F))))``; the depthwise conv is one 1x1 conv with
    ``groups=C``, the pointwise conv one with ``groups=G`` and G outputs, so there is no loop over
    subspaces.

    Args:
        channels (int): Input/output channels C.
        num_subspaces (int): Number of subspaces G; must divide ``channels`` (s = C / G).
        with_norm_act (bool): Add norm + activation after the depthwise and the pointwise conv,
            as the public ULSAM code does. Defaults to ``False``, the paper's equation.
        norm_cfg (dict): Norm layer used when ``with_norm_act``. Defaults to the public code's
            ``BN`` with ``momentum=0.9`` (see configs/samkr/README.md).
        act_cfg (dict): Activation used when ``with_norm_act``. Defaults to ReLU.
        init_cfg (dict, optional): Initialisation config.

    Shapes:
        input (B, C, H, W) -> output (B, C, H, W); ``softmax``'s output, the attention maps,
        (B, G, H, W).
    """

    def __init__(self,
                 channels: int,
                 num_subspaces: int,
                 with_norm_act: bool = False,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.9),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 init_cfg: OptConfigType = None):
        super().__init__(init_cfg=init_cfg)
        if num_subspaces < 1 or channels % num_subspaces != 0:
            raise ValueError(f'ULSAM: num_subspaces={num_subspaces} must be >= 1 and divide '
                             f'channels={channels}')
        self.channels = channels
        self.num_subspaces = num_subspaces
        self.subspace_channels = channels // num_subspaces
        self.with_norm_act = with_norm_act

        self.dw_conv = nn.Conv2d(channels, channels, 1, groups=channels)
        self.dw_norm_act: Optional[nn.Module] = None
        self.max_pool = SeparableMaxPool2d(3)
        self.pw_conv = nn.Conv2d(channels, num_subspaces, 1, groups=num_subspaces)
        self.pw_norm_act: Optional[nn.Module] = None
        if with_norm_act:
            self.dw_norm_act = nn.Sequential(
                build_norm_layer(norm_cfg, channels)[1], build_activation_layer(act_cfg))
            self.pw_norm_act = nn.Sequential(
                build_norm_layer(norm_cfg, num_subspaces)[1], build_activation_layer(act_cfg))
        self.softmax = SpatialSoftmax()

    def forward(self, x: Tensor) -> Tensor:
        """``x + x * A`` per subspace; fp32 inside autocast.

        Shapes: (B, C, H, W) -> (B, C, H, W).
        """
        if torch.is_autocast_enabled(x.device.type):
            # fp32: softmax weights ~1/(H*W) are below half precision's resolution next to 1
            with torch.autocast(x.device.type, enabled=False):
                return self._attend(x.float()).to(x.dtype)
        return self._attend(x)

    def _attend(self, x: Tensor) -> Tensor:
        """Each subspace's attention map A (softmax over positions) applied to its channels."""
        B, C, H, W = x.shape
        attn = self.dw_conv(x)
        if self.dw_norm_act is not None:
            attn = self.dw_norm_act(attn)
        attn = self.pw_conv(self.max_pool(attn))
        if self.pw_norm_act is not None:
            attn = self.pw_norm_act(attn)
        attn = self.softmax(attn)
        # each subspace's map broadcast over its s channels: x + x * A in one kernel
        x_sub = x.reshape(B, self.num_subspaces, self.subspace_channels, H * W)
        return torch.addcmul(x_sub, x_sub, attn.view(B, self.num_subspaces, 1, H * W)).view_as(x)

    def extra_repr(self) -> str:
        """The subspace layout, shown in ``print(model)``."""
        return (f'channels={self.channels}, num_subspaces={self.num_subspaces}, '
                f'subspace_channels={self.subspace_channels}, '
                f'with_norm_act={self.with_norm_act}')
