from .swahr_loss import SWAHRLoss  # noqa: F401
