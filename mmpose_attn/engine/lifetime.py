"""Processes that die with their parent (Linux ``prctl(PR_SET_PDEATHSIG)``).

``mim train`` runs mmpose's ``tools/train.py`` as a child process, and the trainer forks DataLoader
workers. A ``kill -9`` of ``mim`` leaves the trainer running (a later ``--resume`` would then run two
trainers in one work dir), and a ``kill -9`` of the trainer leaves its workers behind. Linux can send
a signal to a process when its parent exits; :func:`die_with_parent` asks for that.
"""
import ctypes
import os
import signal
import sys
from typing import Callable, Optional

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent exits.

    Args:
        sig (int): The signal. Defaults to SIGKILL (no clean-up is possible after a kill -9 of the
            parent anyway, and SIGTERM could be caught by libraries and ignored).

    Returns:
        bool: True if installed; False on systems without ``prctl`` (non-Linux), where nothing changes.
    """
    if not sys.platform.startswith('linux'):
        return False
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:  # the parent already exited before prctl took effect
        os.kill(os.getpid(), sig)
    return True


def parent_command() -> str:
    """The parent's command line ('' if unreadable)."""
    try:
        with open(f'/proc/{os.getppid()}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace').strip()
    except OSError:
        return ''


class DieWithParentWorkerInit:
    """A DataLoader ``worker_init_fn`` that first makes the worker die with its trainer.

    Args:
        worker_init_fn (callable, optional): The loader's own ``worker_init_fn`` (mmengine's seeding),
            called afterwards with the same argument.
    """

    def __init__(self, worker_init_fn: Optional[Callable[[int], None]] = None) -> None:
        self.worker_init_fn = worker_init_fn

    def __call__(self, worker_id: int) -> None:
        die_with_parent()
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)
