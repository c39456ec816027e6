"""SWAHR's scale-map branch (Luo et al., CVPR 2021), as in the authors' public code."""
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmpose.utils.typing import ConfigType
from torch import Tensor, nn


class SWAHRScaleBranch(BaseModule):
    """Predict K SWAHR scale maps from a feature map.

    "Rethinking the Heatmap Regression for Bottom-up Human Pose Estimation" (Luo et al.,
    CVPR 2021): 1x1 conv (C -> K) + BN + ReLU, then a KxK depthwise conv whose weight and bias
    start at zero, so s = 0 (the plain heatmap target) at the start of training.

    Args:
        in_channels (int): C, channels of the input features.
        num_keypoints (int): K, scale maps (one per keypoint).
        kernel_size (int): Depthwise kernel. Defaults to 9 (SWAHR's).
        norm_cfg (dict): Norm after the 1x1 conv. Defaults to BN.

    Shapes:
        input (B, C, h, w) -> scale maps (B, K, h, w).
    """

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int,
                 kernel_size: int = 9,
                 norm_cfg: ConfigType = dict(type='BN')):
        super().__init__(init_cfg=None)
        self.reduce = ConvModule(in_channels, num_keypoints, 1, norm_cfg=norm_cfg)
        self.depthwise = nn.Conv2d(
            num_keypoints,
            num_keypoints,
            kernel_size,
            padding=kernel_size // 2,
            groups=num_keypoints,
            bias=True)
        # zero now as well, not via init_weights(): that would mark the module initialised
        # and mmengine would then skip it after the parent's init_cfg has run
        self._zero_last_conv()

    def init_weights(self) -> None:
        """Zero the last conv. mmengine calls this after the parent head's own init_cfg (e.g.
        DEKR's Normal(0.001) on every Conv2d), so s stays exactly 0 at the start; a
        ``Pretrained`` init_cfg of the parent is applied later and still wins."""
        super().init_weights()
        self._zero_last_conv()

    def _zero_last_conv(self) -> None:
        nn.init.zeros_(self.depthwise.weight)
        nn.init.zeros_(self.depthwise.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, K, h, w)."""
        return self.depthwise(self.reduce(x))
