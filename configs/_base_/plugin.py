# The plugin's runtime, in one place: its import (which registers its models, datasets, hooks), its
# hooks, runner, model wrapper and visualizer. A config lists this file next to an mmpose config in
# `_base_` and then states
#     default_hooks = {{_base_.plugin_default_hooks}}
#     custom_hooks = {{_base_.plugin_custom_hooks}}
#     visualizer = dict(type={{_base_.plugin_visualizer_type}})
# Hooks and visualizer are held under their own names because mmengine refuses two bases that share
# a key, and every mmpose config already carries `default_hooks`, `custom_hooks` and `visualizer`
# (the visualizer dict merges with mmpose's). The upstream problems behind the runner, the model
# wrapper, the visualizer and WeightsOnlyCheckpointHook: mmpose_attn/compat/.
custom_imports = dict(imports=['mmpose_attn'], allow_failed_imports=False)

# AtomicCheckpointHook: a killed job never leaves a truncated checkpoint for --resume;
# CheckpointFitHook: load_from / --checkpoint / --resume of a checkpoint whose keys or shapes do not
# fit the model stops with CheckpointMismatchError, unless allow_partial_load = True (then the
# loaded / new / shape-mismatched keys are logged);
# DieWithParentHook: DataLoader workers die with the trainer, and a trainer started by `mim` dies
# with mim (kill -9 of either leaves no orphan);
# ValidateDataHook: bad annotations/images fail before the first iteration, naming file and field;
# WeightsOnlyCheckpointHook: checkpoints load with torch.load(weights_only=True) (torch >= 2.6).
plugin_default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'),
                            checkpoint_fit=dict(type='CheckpointFitHook'),
                            die_with_parent=dict(type='DieWithParentHook'))
plugin_custom_hooks = [dict(type='SyncBuffersHook'), dict(type='ValidateDataHook'),
                       dict(type='WeightsOnlyCheckpointHook')]
allow_partial_load = False

# Distributed jobs on machines without CUDA (gloo, CPU modules); mmengine's code path with CUDA.
# The wrapper's arguments are those mmengine's Runner gives its default DDP wrapper; with a
# model_wrapper_cfg the Runner ignores a top-level `find_unused_parameters`, so set
# model_wrapper_cfg.find_unused_parameters instead.
runner_type = 'DeviceAwareRunner'
model_wrapper_cfg = dict(type='DeviceAwareDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
# mmpose's PoseLocalVisualizer, drawing keypoints under numpy >= 2.3
plugin_visualizer_type = 'ScalarCirclesPoseLocalVisualizer'
