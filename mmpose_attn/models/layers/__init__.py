
from .esam_attention import ChannelGate, SpatialGate, StageAttention  # noqa: F401
