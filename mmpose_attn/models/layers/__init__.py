from .adaptive_activation_block import ChannelFirstAdaptiveActivationBlock  # noqa: F401
from .adaptive_activation_block import convert_adaptive_activation_blocks  # noqa: F401
from .esam_attention import ChannelGate, SpatialGate, StageAttention  # noqa: F401
from .grid_sample_deform_conv import GridSampleDeformConv2d, convert_deform_convs  # noqa: F401
from .swahr_scale_branch import SWAHRScaleBranch  # noqa: F401
from .ulsam import ULSAM  # noqa: F401
