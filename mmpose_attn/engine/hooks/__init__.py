from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_fit_hook import CheckpointFitHook
from .die_with_parent_hook import DieWithParentHook
from .validate_data_hook import ValidateDataHook
from .warm_start_hook import WarmStartHook

__all__ = [
    'AtomicCheckpointHook', 'CheckpointFitHook', 'DieWithParentHook', 'ValidateDataHook',
    'WarmStartHook'
]
