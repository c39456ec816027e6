
from .esam_attention import ChannelGate, SpatialGate, StageAttention  # noqa: F401
from .grid_sample_deform_conv import GridSampleDeformConv2d  # noqa: F401
from .ulsam import ULSAM  # noqa: F401
