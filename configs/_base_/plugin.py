# The plugin's runtime, in one place: its import (which registers its models, datasets, hooks) and
# its hooks. A config lists this file next to an mmpose config in `_base_` and then states
#     default_hooks = {{_base_.plugin_default_hooks}}
#     custom_hooks = {{_base_.plugin_custom_hooks}}
# The hooks are held under their own names because mmengine refuses two bases that share a key,
# and every mmpose config already carries `default_hooks` and `custom_hooks`.
custom_imports = dict(imports=['mmpose_attn'], allow_failed_imports=False)

# AtomicCheckpointHook: a killed job never leaves a truncated checkpoint for --resume;
# CheckpointFitHook: load_from / --checkpoint / --resume of a checkpoint whose keys or shapes do not
# fit the model stops with CheckpointMismatchError, unless allow_partial_load = True (then the
# loaded / new / shape-mismatched keys are logged);
# DieWithParentHook: DataLoader workers die with the trainer, and a trainer started by `mim` dies
# with mim (kill -9 of either leaves no orphan);
# ValidateDataHook: bad annotations/images fail before the first iteration, naming file and field.
plugin_default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'),
                            checkpoint_fit=dict(type='CheckpointFitHook'),
                            die_with_parent=dict(type='DieWithParentHook'))
plugin_custom_hooks = [dict(type='SyncBuffersHook'), dict(type='ValidateDataHook')]
allow_partial_load = False
