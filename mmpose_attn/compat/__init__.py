"""The plugin's workarounds for problems of its upstream stack, one module per problem.

Everything here exists because an installed upstream version (torch, numpy, mmengine, mmpose)
gets something wrong or assumes something this plugin cannot; nothing else in the package
patches or works around upstream code. Each module states

* the upstream problem and where it is reported (or "unfixed as of <version>"),
* the versions it applies to,
* its guard, a function of the versions (``needs_*``) that decides whether the fix is active, so
  that it is inert wherever upstream behaves,

and uses an extension point of mmengine/mmpose (a registered visualizer, runner, model wrapper,
hook or checkpoint loader) rather than rebinding upstream names; the one problem inside compiled
code, which no extension point reaches, is fixed by adding the name it misses. The registered pieces
are selected by the plugin's base config ``configs/_base_/plugin.py``.

* :mod:`.torch_weights_only`: checkpoints under torch >= 2.6;
* :mod:`.numpy_draw_circles`: mmpose's pose visualizer under numpy >= 2.3;
* :mod:`.cpu_distributed`: distributed training on machines without CUDA;
* :mod:`.mmpose_tools_runner_type`: mmpose's tools/train.py and tools/test.py ignore
  ``runner_type``;
* :mod:`.xtcocotools_owndata`: xtcocotools' mask decoding (bottom-up training data) under
  numpy >= 2.3.

When an upstream release fixes a problem, its module's guard is narrowed to the versions before the
fix, and the module goes once those versions are no longer supported by ``mmpose_attn/__init__.py``.
"""
from . import (cpu_distributed, mmpose_tools_runner_type, numpy_draw_circles, torch_weights_only,
               xtcocotools_owndata)
from .cpu_distributed import (DeviceAwareDistributedDataParallel, DeviceAwareRunner,
                              needs_cpu_distributed)
from .mmpose_tools_runner_type import needs_runner_type_dispatch, run_mmpose_tool
from .numpy_draw_circles import (ScalarCirclesPoseLocalVisualizer, needs_scalar_circles,
                                 scalar_circles_visualizer_cfg)
from .torch_weights_only import WeightsOnlyCheckpointHook, needs_weights_only_format
from .xtcocotools_owndata import needs_owndata_name

__all__ = [
    'cpu_distributed', 'mmpose_tools_runner_type', 'numpy_draw_circles', 'torch_weights_only',
    'xtcocotools_owndata', 'needs_owndata_name', 'needs_runner_type_dispatch', 'run_mmpose_tool',
    'DeviceAwareDistributedDataParallel', 'DeviceAwareRunner', 'needs_cpu_distributed',
    'ScalarCirclesPoseLocalVisualizer', 'needs_scalar_circles', 'scalar_circles_visualizer_cfg',
    'WeightsOnlyCheckpointHook', 'needs_weights_only_format'
]
