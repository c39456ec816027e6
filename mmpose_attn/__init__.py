"""mmpose_attn: ESAM and SAMKR for MMPose 1.x.

Importing the package (configs do it via ``custom_imports=dict(imports=['mmpose_attn'])``) registers
the models in ``mmpose.registry.MODELS`` and makes mmengine load checkpoints under torch >= 2.6.
"""
from . import checkpoint  # noqa: F401  (registers the local checkpoint loader)
from . import models  # noqa: F401  (registers models)
from . import visualization_compat  # noqa: F401  (mmpose's visualizer under numpy >= 2.3)
from . import datasets, engine  # noqa: F401  (datasets, hooks, atomic checkpoints, CPU DDP)
from .version import __version__

__all__ = ['__version__']
