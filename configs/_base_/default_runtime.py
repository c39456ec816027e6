# The runtime every mmpose_attn config builds on: mmpose's default runtime, plus the plugin's
# import (which registers its models, datasets and hooks) and its hooks.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['mmpose_attn'], allow_failed_imports=False)

# AtomicCheckpointHook: a killed job never leaves a truncated checkpoint for --resume;
# ValidateDataHook: bad annotations/images fail before the first iteration, naming file and field.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='ValidateDataHook')]
