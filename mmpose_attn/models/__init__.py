from . import (backbones, data_preprocessors, heads, layers, losses, pose_estimators,
               warm_start)  # noqa: F401
