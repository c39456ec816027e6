"""kill -9 of `mim train`, of torchrun or of the trainer leaves no orphaned trainer or DataLoader
worker."""
import os
import signal
import subprocess
import sys
import time
from typing import List

import pytest
from _tiny_train import (GN_OPTIONS, REPO, TINY_CONFIG, free_port, job_env, session_root,
                         train_command)

# a run long enough to be killed while it trains, with one persistent DataLoader worker
LONG_RUN = GN_OPTIONS + [
    'train_cfg.max_epochs=1000', 'train_cfg.val_interval=1000',
    'default_hooks.checkpoint.interval=1000', 'train_dataloader.num_workers=1',
    'train_dataloader.persistent_workers=True'
]


def _stat(pid: int) -> List[str]:
    with open(f'/proc/{pid}/stat') as f:
        text = f.read()
    return text[text.rindex(')') + 2:].split()  # [state, ppid, ...]


def _children(pid: int) -> List[int]:
    found = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                if int(_stat(int(name))[1]) == pid:
                    found.append(int(name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def _alive(pid: int) -> bool:
    try:
        return _stat(pid)[0] != 'Z'  # a zombie has exited, only its exit status is left
    except OSError:
        return False


def _wait_for(pred, what: str, timeout: float = 240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f'timed out waiting for {what}')


def _trainer_and_worker(top: int, via_launcher: bool):

    def find():
        trainers = _children(top) if via_launcher else [top]
        for trainer in trainers:
            workers = _children(trainer)
            if workers:
                return trainer, workers
        return None

    return _wait_for(find, 'the trainer to start its DataLoader worker')


@pytest.mark.slow
@pytest.mark.parametrize('kill', ['mim', 'torchrun', 'trainer'])
def test_kill9_leaves_no_orphan(kill):
    root = session_root()
    work = root / f'orphan_{kill}'  # session_root() is shared within a session
    if kill == 'mim':
        cmd = [
            'mim', 'train', 'mmpose',
            str(TINY_CONFIG), '--work-dir',
            str(work), '--cfg-options', *LONG_RUN
        ]
    elif kill == 'torchrun':  # tools/dist_train.sh's launch; torchrun's worker has its own session
        cmd = [
            sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=1',
            f'--master_port={free_port()}',
            str(REPO / 'tools' / 'train.py'),
            str(TINY_CONFIG), '--launcher', 'pytorch', '--work-dir',
            str(work), '--cfg-options', *LONG_RUN
        ]
    else:
        cmd = train_command(TINY_CONFIG, work, cfg_options=LONG_RUN)
    with open(root / f'orphan_{kill}.log', 'w') as log:
        proc = subprocess.Popen(
            cmd, env=job_env(root / 'data'), stdout=log, stderr=subprocess.STDOUT)
    pids = []
    try:
        # killed while it trains: the worker has run its worker_init_fn by the first logged
        # iteration
        _wait_for(lambda: 'Epoch(train)' in (root / f'orphan_{kill}.log').read_text(),
                  'the first training iteration')
        trainer, workers = _trainer_and_worker(proc.pid, via_launcher=(kill != 'trainer'))
        pids = [trainer, *workers]
        if kill == 'torchrun':
            assert os.getsid(trainer) != os.getsid(proc.pid)  # a process group kill would miss it
        os.kill(trainer if kill == 'trainer' else proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_for(lambda: not any(_alive(p) for p in pids), 'the orphans to exit', timeout=30)
    finally:
        proc.kill()
        for pid in pids:  # never leave a runaway trainer behind a failed assertion
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert not any(_alive(p) for p in pids)


@pytest.mark.slow
@pytest.mark.parametrize('moment', ['trainer_started', 'runner_built'])
def test_kill9_of_mim_during_startup_leaves_no_trainer(moment):
    """kill -9 of `mim train` while its trainer starts up: at once when the trainer process
    exists (Python still starting), or once the runner is built (before the datasets and the
    hooks' before_run); the trainer stops and never trains."""
    root = session_root()
    work = root / f'startup_{moment}'
    log_path = root / f'startup_{moment}.log'
    cmd = [
        'mim', 'train', 'mmpose',
        str(TINY_CONFIG), '--work-dir',
        str(work), '--cfg-options', *LONG_RUN
    ]
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            cmd, env=job_env(root / 'data'), stdout=log, stderr=subprocess.STDOUT)

    def trainer():
        # mim first runs `train.py -h` to read its options; the trainer has the config argument
        for pid in _children(proc.pid):
            try:
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    if str(TINY_CONFIG).encode() in f.read():
                        return pid
            except OSError:
                pass
        return None

    pid = None
    try:
        pid = _wait_for(trainer, 'the trainer process')
        if moment == 'runner_built':  # mmengine logs the config when the Runner is constructed
            _wait_for(lambda: 'Config:' in log_path.read_text(), 'the runner to be built')
            assert 'Epoch(train)' not in log_path.read_text()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_for(lambda: not _alive(pid), 'the trainer to exit', timeout=120)
    finally:
        proc.kill()
        if pid and _alive(pid):  # never leave a runaway trainer behind a failed assertion
            os.kill(pid, signal.SIGKILL)
    assert 'Epoch(train)' not in log_path.read_text()
    if moment == 'trainer_started' and 'Config:' not in log_path.read_text():
        # killed before the plugin was imported: it found itself orphaned and said so
        assert 'is gone (killed during start-up); stopping' in log_path.read_text()
