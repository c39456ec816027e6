"""Training-infrastructure pieces: CPU DDP support, atomic checkpoints, data checks."""
from . import dist  # noqa: F401  (CPU DDP: rebinds two names in mmengine.runner.runner when no CUDA)
from .atomic_io import AtomicLocalBackend, atomic_write
from .checkpoint_fit import CheckpointFit, CheckpointMismatchError, check_state_dict_fits
from .dist import DeviceAwareDistributedDataParallel
from .hooks import AtomicCheckpointHook, CheckpointFitHook, ValidateDataHook

__all__ = ['AtomicLocalBackend', 'atomic_write', 'CheckpointFit', 'CheckpointMismatchError',
           'check_state_dict_fits', 'DeviceAwareDistributedDataParallel', 'AtomicCheckpointHook',
           'CheckpointFitHook', 'ValidateDataHook']
