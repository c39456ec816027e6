from . import backbones, data_preprocessors, heads, layers, losses, pose_estimators  # noqa: F401
