"""Helpers for the tests that launch real training jobs (test_dist, test_resume, test_bad_input).

Jobs run in subprocesses (as users run them: tools/train.py, tools/dist_train.sh) so that
``randomness.deterministic`` and the process group never leak into the pytest process. The
1-process reference run is shared by test_dist and test_resume (lru_cache) to stay in the
time budget.
"""
import atexit
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import torch

from mmpose_attn.datasets.synthetic import make_dataset

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / 'tests' / 'configs' / 'td-hm_res18-tiny_1xb4-3e_synthetic-64x48.py'
# 8 train images with 16 people -> 4 iterations of 4 per epoch, 3 epochs.
TOTAL_ITERS = 12
# GroupNorm instead of BatchNorm: per-sample normalisation, so splitting a batch across processes
# does not change the forward pass (BN's batch statistics would; CPU has no SyncBN).
GN_OPTIONS = ['model.backbone.norm_cfg.type=GN', 'model.backbone.norm_cfg.num_groups=8']


def make_tiny_data(root: Path) -> Path:
    make_dataset(str(root), dataset='coco', train_images=8, val_images=4, seed=0)
    return root


def job_env(data_root: Path, **extra: str) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO),
                                    str(REPO / 'tests'),
                                    env.get('PYTHONPATH', '')]),
        MMPOSE_ATTN_TINY_DATA=str(data_root) + os.sep,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHONWARNINGS='ignore')
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_command(config: Path,
                  work_dir: Path,
                  nproc: int = 1,
                  cfg_options: Optional[List[str]] = None,
                  resume: bool = False) -> List[str]:
    args = ['--work-dir', str(work_dir)]
    if resume:
        args.append('--resume')
    if cfg_options:
        args += ['--cfg-options', *cfg_options]
    if nproc == 1:
        return [sys.executable, str(REPO / 'tools' / 'train.py'), str(config), *args]
    return ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), str(nproc), *args]


def run_job(cmd: List[str], env: Dict[str, str], log: Path, timeout: float = 300) -> str:
    """Run a job to completion, keep its output in ``log`` and fail with its tail on error."""
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    text = log.read_text()
    assert proc.returncode == 0, f'{" ".join(cmd)} failed ({proc.returncode}):\n{text[-4000:]}'
    return text


def load_weights(ckpt: Path) -> Dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']


def max_abs_diff(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(
        (a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point())


@functools.lru_cache(maxsize=None)
def session_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix='mmpose_attn_tiny_'))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    make_tiny_data(root / 'data')
    return root


@functools.lru_cache(maxsize=None)
def reference_run() -> Path:
    """Uninterrupted 1-process GN run of the tiny config (batch 4, 3 epochs); its work_dir."""
    root = session_root()
    work_dir = root / 'reference'
    run_job(
        train_command(TINY_CONFIG, work_dir, cfg_options=GN_OPTIONS), job_env(root / 'data'),
        root / 'reference.log')
    return work_dir
