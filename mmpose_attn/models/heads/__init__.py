
from .esam_head import ESAMHead  # noqa: F401
