from .batch_dekr_head import BatchDEKRHead  # noqa: F401
from .esam_head import ESAMHead  # noqa: F401
from .samkr_head import SAMKRHead  # noqa: F401
