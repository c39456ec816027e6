from . import backbones, heads, layers, losses, warm_start  # noqa: F401
