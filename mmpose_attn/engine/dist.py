"""Distributed training on machines without CUDA (CPU DDP over gloo).

mmengine 0.10.7 assumes a GPU per process in two places of the Runner:

* ``Runner.setup_env`` calls ``init_dist``, whose ``pytorch``/``slurm`` launchers call
  ``torch.cuda.set_device(local_rank)`` (fails with "Found no NVIDIA driver") and use the backend from
  ``env_cfg.dist_cfg`` (mmpose's default runtime says ``nccl``, which needs GPUs);
* ``Runner.wrap_model`` builds ``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``, which torch
  rejects for a module whose parameters live on the CPU.

Importing :mod:`mmpose_attn` (configs do it through ``custom_imports`` while the config is loaded, i.e.
before the Runner sets up the environment) rebinds those two names inside ``mmengine.runner.runner``
only. Both replacements call mmengine's originals unchanged whenever CUDA is available, so GPU jobs
keep NCCL and per-device DDP; nothing in site-packages is edited.
"""
import contextlib
import logging
from typing import Iterator, Optional

import torch
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from mmengine.runner import runner as _runner_module

# Keep a reference to the original even if this module is reloaded.
_mmengine_init_dist = getattr(_runner_module.init_dist, '__wrapped_init_dist__',
                              _runner_module.init_dist)


@contextlib.contextmanager
def _skip_cuda_set_device() -> Iterator[None]:
    """Make ``torch.cuda.set_device`` a no-op for the duration of mmengine's ``init_dist``.

    mmengine also derives MASTER_ADDR/RANK/WORLD_SIZE there (slurm), so reusing it beats copying it.
    """
    original = torch.cuda.set_device
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.set_device = original


def init_dist(launcher: str, backend: str = 'nccl', init_backend: str = 'torch', **kwargs) -> None:
    """mmengine's ``init_dist``, falling back to gloo on the CPU when CUDA is unavailable."""
    if torch.cuda.is_available() or launcher not in ('pytorch', 'slurm'):
        return _mmengine_init_dist(launcher, backend=backend, init_backend=init_backend, **kwargs)
    if backend != 'gloo':
        # Logged by every rank because the logger is not set up yet (it needs the rank).
        print_log(
            f'CUDA is not available: using the gloo backend for CPU distributed training instead of '
            f'env_cfg.dist_cfg.backend={backend!r}.', logger='current', level=logging.WARNING)
    with _skip_cuda_set_device():
        _mmengine_init_dist(launcher, backend='gloo', init_backend=init_backend, **kwargs)


init_dist.__wrapped_init_dist__ = _mmengine_init_dist


@MODEL_WRAPPERS.register_module()
class DeviceAwareDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that drops ``device_ids`` for a module on the CPU.

    torch's DDP requires ``device_ids=None`` for CPU modules, while mmengine's Runner always passes
    ``[LOCAL_RANK]``. For a CUDA module the arguments are passed through untouched. Usable directly as
    ``model_wrapper_cfg=dict(type='DeviceAwareDistributedDataParallel')``.
    """

    def __init__(self, module: torch.nn.Module, device_ids: Optional[list] = None, **kwargs) -> None:
        param = next(module.parameters(), None)
        if param is not None and param.device.type == 'cpu':
            device_ids = None
            kwargs.pop('output_device', None)
        super().__init__(module=module, device_ids=device_ids, **kwargs)


def install() -> None:
    """Rebind ``init_dist`` and the default DDP wrapper used by ``mmengine.runner.Runner``.

    Done only when CUDA is unavailable, so GPU runs execute mmengine's code path byte for byte.
    Idempotent.
    """
    if torch.cuda.is_available():
        return
    _runner_module.init_dist = init_dist
    _runner_module.MMDistributedDataParallel = DeviceAwareDistributedDataParallel


install()
