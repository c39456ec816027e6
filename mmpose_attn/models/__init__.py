from . import (backbones, data_preprocessors, heads, layers, losses,  # noqa: F401
               pose_estimators)
