
from .esam_attention import ChannelGate, SpatialGate, StageAttention  # noqa: F401
from .ulsam import ULSAM  # noqa: F401
