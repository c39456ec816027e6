"""Training-infrastructure pieces: atomic checkpoints, checkpoint fit, data checks, lifetimes."""
from .atomic_io import AtomicLocalBackend, atomic_write
from .checkpoint_fit import CheckpointFit, CheckpointMismatchError, check_state_dict_fits
from .hooks import (AtomicCheckpointHook, CheckpointFitHook, DieWithParentHook, ValidateDataHook,
                    WarmStartHook)
from .lifetime import die_with_parent

__all__ = [
    'AtomicLocalBackend', 'atomic_write', 'CheckpointFit', 'CheckpointMismatchError',
    'check_state_dict_fits', 'AtomicCheckpointHook', 'CheckpointFitHook', 'DieWithParentHook',
    'ValidateDataHook', 'WarmStartHook', 'die_with_parent'
]
