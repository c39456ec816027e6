"""ULSAM: ultra-lightweight subspace attention (Saini et al., WACV 2020), vectorised over subspaces.

SAMKR applies ULSAM to every subspace of every keypoint branch of DEKR's displacement head. Per
subspace of ``s`` channels the paper's equation is::

    A   = softmax_{H·W}( PW( maxpool3x3( DW(F) ) ) )     # (1, H, W), PW has ONE output channel
    out = F ⊗ A + F

Here all ``G`` subspaces of a (B, G·s, H, W) tensor run at once: the depthwise 1×1 conv is a
grouped conv with ``groups=C``, the max-pool is channel-wise already, the per-subspace pointwise
conv is a grouped 1×1 conv with ``groups=G`` and ``G`` outputs, the softmax runs on a (B, G, H·W)
view, and multiply-and-add is a single broadcast ``addcmul``. No Python loop over subspaces.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType


def _max_pool3x3(x: Tensor) -> Tensor:
    """``F.max_pool2d(x, 3, stride=1, padding=1)`` of (B, C, H, W), exactly, as two 1-D passes:
    the CPU 2-D kernel (which also computes indices) is ~8x slower on ULSAM's 128x128 maps."""
    B, C, H, W = x.shape
    rows = F.max_pool1d(x.reshape(B * C, H, W), 3, 1, 1)
    return F.max_pool1d(rows.transpose(1, 2), 3, 1, 1).transpose(1, 2).reshape(B, C, H, W)


@MODELS.register_module()
class ULSAM(BaseModule):
    """Subspace attention over ``num_subspaces`` equal channel groups.

    Args:
        channels (int): Input/output channels C.
        num_subspaces (int): Number of subspaces G; must divide ``channels`` (s = C / G).
        with_norm_act (bool): Add BN + ReLU after the depthwise and the pointwise conv, as the
            public ULSAM code does. Defaults to ``False``, the paper's equation (and SAMKR's).
        norm_cfg (dict): Norm layer used when ``with_norm_act``. Defaults to the public code's
            ``BatchNorm2d(momentum=0.9)``: in PyTorch's convention the running statistics
            become ``0.1·old + 0.9·batch`` (probably meant as a Keras-style 0.9 decay, but this
            is what that code computes). Pass ``dict(type='BN')`` for PyTorch's usual 0.1.
        act_cfg (dict): Activation used when ``with_norm_act``. Defaults to ReLU.
        init_cfg (dict, optional): Initialisation config.

    Shapes:
        input (B, C, H, W) -> output (B, C, H, W).
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
        self.pw_conv = nn.Conv2d(channels, num_subspaces, 1, groups=num_subspaces)
        self.dw_norm_act: Optional[nn.Module] = None
        self.pw_norm_act: Optional[nn.Module] = None
        if with_norm_act:
            self.dw_norm_act = nn.Sequential(
                build_norm_layer(norm_cfg, channels)[1], build_activation_layer(act_cfg))
            self.pw_norm_act = nn.Sequential(
                build_norm_layer(norm_cfg, num_subspaces)[1], build_activation_layer(act_cfg))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        if torch.is_autocast_enabled(x.device.type):
            # fp32 inside autocast: the softmax runs over all H·W positions (16,384 at 512²),
            # whose weights ~1/(H·W) are below half precision's resolution next to 1
            with torch.autocast(x.device.type, enabled=False):
                return self._attend(x.float()).to(x.dtype)
        return self._attend(x)

    def _attend(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        G, s = self.num_subspaces, self.subspace_channels
        # The 1x1 convs as the per-channel affine / per-subspace weighted sum they are: on CPU
        # grouped convs run one GEMM per group (C and G of them), ~10x slower than these.
        attn = torch.addcmul(self.dw_conv.bias.view(1, C, 1, 1), x,
                             self.dw_conv.weight.view(1, C, 1, 1))
        if self.dw_norm_act is not None:
            attn = self.dw_norm_act(attn)
        attn = _max_pool3x3(attn)
        attn = torch.einsum('bgsn,gs->bgn', attn.reshape(B, G, s, H * W),
                            self.pw_conv.weight.view(G, s))
        attn = attn + self.pw_conv.bias.view(1, G, 1)
        if self.pw_norm_act is not None:
            attn = self.pw_norm_act(attn.reshape(B, G, H, W))
        # (B, G, 1, H·W): one spatial distribution per subspace, broadcast over its s channels
        attn = attn.reshape(B, G, 1, H * W).softmax(dim=-1)
        x_sub = x.reshape(B, self.num_subspaces, self.subspace_channels, H * W)
        # x * A + x in one kernel, without materialising x * A
        return torch.addcmul(x_sub, x_sub, attn).view(B, C, H, W)

    def extra_repr(self) -> str:
        return (f'channels={self.channels}, num_subspaces={self.num_subspaces}, '
                f'subspace_channels={self.subspace_channels}, '
                f'with_norm_act={self.with_norm_act}')
