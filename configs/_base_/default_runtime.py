# The runtime every mmpose_attn config builds on: mmpose's default runtime, plus the plugin's
# import (which registers its models, datasets and hooks) and its hooks.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['mmpose_attn'], allow_failed_imports=False)

# AtomicCheckpointHook: a killed job never leaves a truncated checkpoint for --resume;
# CheckpointFitHook: load_from / --checkpoint / --resume of a checkpoint whose keys or shapes do not
# fit the model stops with CheckpointMismatchError, unless allow_partial_load = True (then the
# loaded / new / shape-mismatched keys are logged);
# ValidateDataHook: bad annotations/images fail before the first iteration, naming file and field.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'),
                     checkpoint_fit=dict(type='CheckpointFitHook'))
allow_partial_load = False
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='ValidateDataHook')]
