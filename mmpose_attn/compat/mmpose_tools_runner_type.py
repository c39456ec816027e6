"""mmpose's tools/train.py and tools/test.py build the runner named by ``runner_type``.

Upstream problem: mmpose 1.3.2's ``tools/train.py`` and ``tools/test.py`` build
``Runner.from_cfg(cfg)`` and ignore the config's ``runner_type``, while mmdet's and mmyolo's scripts
build ``RUNNERS.build(cfg)`` when the config names one. The plugin's base config names
``DeviceAwareRunner`` (:mod:`.cpu_distributed`). Unfixed as of mmpose 1.3.2 (no upstream report
found in open-mmlab/mmpose).

Applies to: mmpose 1.3.x (the versions this plugin supports).

Guard: :func:`needs_runner_type_dispatch` on the mmpose version. This repository's
``tools/train.py``/``tools/test.py`` run mmpose's script through :func:`run_mmpose_tool`: its
``main()`` unchanged (arguments, config merging, hooks), in a private copy of the script module
whose ``Runner`` honours ``runner_type``; mmpose's installed files and modules are not touched.
``mim train mmpose`` runs mmpose's script itself and so builds mmengine's Runner.
"""
import importlib.util
import os.path as osp

import mmpose
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.utils import digit_version

UNFIXED_AS_OF = '1.3.2'


def needs_runner_type_dispatch(mmpose_version: str = mmpose.__version__) -> bool:
    """Whether mmpose's tools ignore ``runner_type`` (all mmpose up to 1.3.2, the newest known)."""
    return digit_version(mmpose_version) <= digit_version(UNFIXED_AS_OF)


class RunnerFromConfig:
    """Stands for ``Runner`` in mmpose's tool scripts: ``from_cfg`` honours ``runner_type``."""

    @staticmethod
    def from_cfg(cfg) -> Runner:
        return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def run_mmpose_tool(name: str) -> None:
    """Run the ``main()`` of mmpose's bundled ``tools/<name>.py`` with ``sys.argv`` as it is."""
    path = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'mmpose_attn_mmpose_tools_{name}', path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)  # defines its functions; its main() runs only below
    if needs_runner_type_dispatch():
        script.Runner = RunnerFromConfig
    script.main()
