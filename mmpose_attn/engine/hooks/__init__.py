from .atomic_checkpoint_hook import AtomicCheckpointHook
from .validate_data_hook import ValidateDataHook

__all__ = ['AtomicCheckpointHook', 'ValidateDataHook']
