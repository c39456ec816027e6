"""Training-infrastructure pieces: CPU DDP support, atomic checkpoints, data checks."""
from . import dist  # noqa: F401  (CPU DDP: rebinds two names in mmengine.runner.runner when no CUDA)
from .atomic_io import AtomicLocalBackend, atomic_write
from .dist import DeviceAwareDistributedDataParallel
from .hooks import AtomicCheckpointHook, ValidateDataHook

__all__ = ['AtomicLocalBackend', 'atomic_write', 'DeviceAwareDistributedDataParallel',
           'AtomicCheckpointHook', 'ValidateDataHook']
