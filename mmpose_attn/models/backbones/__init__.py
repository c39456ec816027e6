from .esam_resnet import ESAMResNet  # noqa: F401
