"""mmpose_attn: ESAM and SAMKR for MMPose 1.x.

Importing the package (configs do it via ``custom_imports=dict(imports=['mmpose_attn'])``) checks
the installed mmcv / mmengine / mmpose versions, registers the models, datasets and hooks in
mmpose's registries and sets up the workarounds for upstream problems (:mod:`mmpose_attn.compat`).
"""
import mmcv
import mmengine
import mmpose
from mmengine.utils import digit_version

from .version import __version__, version_info

# The versions this plugin is written and tested against (mmyolo-style guard: fail at import with
# the fix, not later with an obscure registry or signature error).
mmcv_minimum_version = '2.0.0'
mmcv_maximum_version = '2.2.0'
mmengine_minimum_version = '0.10.0'
mmengine_maximum_version = '1.0.0'
mmpose_minimum_version = '1.3.0'
mmpose_maximum_version = '1.4.0'


def _check(name: str, version: str, minimum: str, maximum: str) -> None:
    """Fail at import, naming the fix, when ``version`` is outside [minimum, maximum)."""
    if not digit_version(minimum) <= digit_version(version) < digit_version(maximum):
        raise AssertionError(
            f'mmpose_attn needs {name}>={minimum}, <{maximum}, but {name}=={version} is installed. '
            f'Install a supported version, e.g. `mim install "{name}>={minimum},<{maximum}"`.')


_check('mmcv', mmcv.__version__, mmcv_minimum_version, mmcv_maximum_version)
_check('mmengine', mmengine.__version__, mmengine_minimum_version, mmengine_maximum_version)
_check('mmpose', mmpose.__version__, mmpose_minimum_version, mmpose_maximum_version)

from . import compat  # noqa: E402,F401  (upstream workarounds: checkpoints, visualizer, CPU DDP)
from . import models  # noqa: E402,F401  (registers models)
from . import datasets, engine  # noqa: E402,F401  (datasets, hooks, atomic checkpoints)

# the earliest moment the plugin runs in a trainer (its config's custom_imports): from here on a
# kill -9 of `mim train` or torchrun takes the trainer along
engine.lifetime.tie_to_launcher()

__all__ = ['__version__', 'version_info']
