"""Distributed training on machines without CUDA (CPU processes over gloo).

Upstream problem: mmengine 0.10.7 assumes a GPU per process in two places of the Runner:

* ``Runner.setup_env`` calls ``mmengine.dist.init_dist``, whose ``pytorch``/``slurm`` launchers call
  ``torch.cuda.set_device(local_rank)`` (fails with "Found no NVIDIA driver") and use the backend of
  ``env_cfg.dist_cfg`` (mmpose's default runtime says ``nccl``, which needs GPUs);
* ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to the DDP wrapper, which torch rejects
  for a module whose parameters live on the CPU ("device_ids and output_device arguments only work
  with single-device/multiple-device GPU modules or CPU modules").

Unfixed as of mmengine 0.10.7 (and its main branch: ``_init_dist_pytorch`` still sets the CUDA
device unconditionally; ``wrap_model`` has added ``device_ids`` for every DDP subclass since
open-mmlab/mmengine#351).

Applies to: mmengine 0.10.x on machines where ``torch.cuda.is_available()`` is false.

Guard: both pieces are mmengine extension points selected by the plugin's base config, and both
step aside when CUDA is there (:func:`needs_cpu_distributed`), so GPU jobs run mmengine's code:

* ``runner_type = 'DeviceAwareRunner'``: :class:`DeviceAwareRunner` initialises the gloo process
  group itself before mmengine's ``setup_env`` would call ``init_dist`` (which then sees an
  initialised group and skips it). It is built by runners that honour ``runner_type``
  (``RUNNERS.build(cfg)``, as mmdet's and this repository's ``tools/train.py``/``tools/test.py``);
  mmpose's own scripts (and so ``mim train mmpose``) call ``Runner.from_cfg`` and ignore it;
* ``model_wrapper_cfg = dict(type='DeviceAwareDistributedDataParallel')``: the wrapper drops
  ``device_ids`` for a module on the CPU, honoured by every Runner.
"""
import datetime
import logging
import os
import subprocess
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.dist import is_distributed
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner

CPU_LAUNCHERS = ('pytorch', 'slurm')  # the launchers whose mmengine code calls set_device


def needs_cpu_distributed(cuda_available: bool, launcher: str) -> bool:
    """Whether a job started by ``launcher`` must be set up for CPU processes (no CUDA)."""
    return not cuda_available and launcher in CPU_LAUNCHERS


def _slurm_env(port: Optional[int]) -> None:
    """The torch ``env://`` variables from slurm's, as mmengine's ``_init_dist_slurm`` sets them."""
    proc_id = int(os.environ['SLURM_PROCID'])
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    else:
        os.environ.setdefault('MASTER_PORT', '29500')  # torch.distributed's default port
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    os.environ['RANK'] = str(proc_id)


def init_cpu_dist(launcher: str,
                  backend: str = 'nccl',
                  port: Optional[int] = None,
                  timeout: Optional[int] = None,
                  **kwargs) -> None:
    """Initialise the default process group over gloo for CPU processes.

    Args:
        launcher (str): ``'pytorch'`` (torchrun's environment) or ``'slurm'``.
        backend (str): The backend asked for by ``env_cfg.dist_cfg``; anything but gloo is replaced
            (with a warning), since the others need devices.
        port (int, optional): slurm's master port, as mmengine's ``dist_cfg.port``.
        timeout (int, optional): Seconds, as mmengine's ``dist_cfg.timeout``.
        **kwargs: Passed to ``torch.distributed.init_process_group``.
    """
    if backend != 'gloo':
        # Logged by every rank because the logger is not set up yet (it needs the rank).
        print_log(
            'CUDA is not available: using the gloo backend for CPU distributed training instead '
            f'of env_cfg.dist_cfg.backend={backend!r}.',
            logger='current',
            level=logging.WARNING)
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    if launcher == 'slurm':
        _slurm_env(port)
    torch_dist.init_process_group(backend='gloo', **kwargs)


@RUNNERS.register_module()
class DeviceAwareRunner(Runner):
    """:class:`mmengine.runner.Runner` that also starts distributed jobs on machines without CUDA.

    With CUDA, or without a ``pytorch``/``slurm`` launcher, it is mmengine's Runner. Without CUDA it
    initialises the gloo process group (:func:`init_cpu_dist`, from ``env_cfg.dist_cfg``) before
    mmengine's ``setup_env`` runs, which then finds the group initialised and does not call
    ``init_dist`` (and its ``torch.cuda.set_device``). Select it with
    ``runner_type = 'DeviceAwareRunner'`` (the plugin's base config does).
    """

    def setup_env(self, env_cfg: dict) -> None:
        dist_cfg = dict(env_cfg.get('dist_cfg') or {})
        if (self.distributed and not is_distributed()
                and needs_cpu_distributed(torch.cuda.is_available(), self.launcher)
                and dist_cfg.pop('init_backend', 'torch') == 'torch'):
            init_cpu_dist(self.launcher, **dist_cfg)
        super().setup_env(env_cfg)


@MODEL_WRAPPERS.register_module()
class DeviceAwareDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that drops ``device_ids`` for a module on the CPU.

    torch's DDP requires ``device_ids=None`` for CPU modules, while mmengine's Runner always passes
    ``[LOCAL_RANK]``. For a CUDA module the arguments are passed through untouched. Select it with
    ``model_wrapper_cfg = dict(type='DeviceAwareDistributedDataParallel')`` (the plugin's base
    config does); its other arguments are those of ``MMDistributedDataParallel``.
    """

    def __init__(self,
                 module: torch.nn.Module,
                 device_ids: Optional[list] = None,
                 **kwargs) -> None:
        param = next(module.parameters(), None)
        if param is not None and param.device.type == 'cpu':
            device_ids = None
            kwargs.pop('output_device', None)
        super().__init__(module=module, device_ids=device_ids, **kwargs)
