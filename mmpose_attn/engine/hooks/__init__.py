from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_fit_hook import CheckpointFitHook
from .validate_data_hook import ValidateDataHook

__all__ = ['AtomicCheckpointHook', 'CheckpointFitHook', 'ValidateDataHook']
