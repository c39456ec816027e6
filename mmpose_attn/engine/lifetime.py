"""Processes that die with their parent (Linux ``prctl(PR_SET_PDEATHSIG)``).

``mim train`` runs mmpose's ``tools/train.py`` as a child process, and the trainer forks DataLoader
workers. A ``kill -9`` of ``mim`` leaves the trainer running (a later ``--resume`` would then run
two trainers in one work dir), and a ``kill -9`` of the trainer leaves its workers behind. Linux can
send a signal to a process when its parent exits; :func:`die_with_parent` asks for that, and
:func:`tie_to_launcher` does it for the trainer as soon as the plugin is imported (the config's
``custom_imports``, before the runner, its datasets or its hooks exist).
"""
import ctypes
import os
import signal
import sys
from typing import Callable, List, Optional

_PR_SET_PDEATHSIG = 1
_TORCH_LAUNCHERS = ('torch.distributed.run', 'torch.distributed.launch')


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent exits.

    Args:
        sig (int): The signal. Defaults to SIGKILL (no clean-up is possible after a kill -9 of the
            parent anyway, and SIGTERM could be caught by libraries and ignored).

    Returns:
        bool: True if installed; False on systems without ``prctl`` (non-Linux), where nothing
            changes.
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


def supervisor(argv: List[str]) -> Optional[str]:
    """``'mim'`` or ``'torchrun'`` when the command line ``argv`` is one of those, else None."""
    names = [os.path.basename(a) for a in argv[:2]]
    if 'mim' in names:
        return 'mim'
    if 'torchrun' in names or any(a in _TORCH_LAUNCHERS for a in argv[:3]):
        return 'torchrun'
    return None


def started_by_launcher() -> Optional[str]:
    """Which launcher started this process, from what it leaves in the process itself (so that
    it is known after the launcher is gone): ``'torchrun'`` (its ``TORCHELASTIC_RUN_ID``), or
    ``'mim'`` (a script under an OpenMMLab package's ``.mim/tools`` run with the
    ``MASTER_PORT`` mim sets); else None."""
    if os.environ.get('TORCHELASTIC_RUN_ID'):
        return 'torchrun'
    script = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ''
    if f'{os.sep}.mim{os.sep}tools{os.sep}' in script and 'MASTER_PORT' in os.environ:
        return 'mim'
    return None


def tie_to_launcher() -> Optional[str]:
    """Make this process die with its launcher (``mim``, torchrun) from now on.

    Called when the plugin is imported, which in a trainer is while its config is read, before
    the runner is built: a ``kill -9`` of the launcher during start-up (e.g. while a large dataset
    is being indexed) takes the trainer along. A trainer whose launcher died even earlier (while
    Python was starting) finds itself adopted by init and exits here instead of training on as an
    orphan. ``MMPOSE_ATTN_DIE_WITH_PARENT=1`` ties any parent, ``=0`` nothing; a process started
    from a shell is left alone.

    Returns:
        str | None: What the process is tied to, or None.
    """
    mode = os.environ.get('MMPOSE_ATTN_DIE_WITH_PARENT', '')
    if mode == '0' or not sys.platform.startswith('linux'):
        return None
    parent = supervisor(parent_command().split())
    if mode == '1' or parent:
        return (parent or 'parent') if die_with_parent() else None
    launcher = started_by_launcher()
    if launcher and os.getppid() == 1:
        sys.stderr.write(f'mmpose_attn: the {launcher} process that started this one '
                         f'({" ".join(sys.argv)}) is gone (killed during start-up); stopping '
                         'instead of running on as an orphan.\n')
        sys.stderr.flush()
        os._exit(1)
    return None


class DieWithParentWorkerInit:
    """A DataLoader ``worker_init_fn`` that first makes the worker die with its trainer.

    Args:
        worker_init_fn (callable, optional): The loader's own ``worker_init_fn`` (mmengine's
            seeding), called afterwards with the same argument.
    """

    def __init__(self, worker_init_fn: Optional[Callable[[int], None]] = None) -> None:
        self.worker_init_fn = worker_init_fn

    def __call__(self, worker_id: int) -> None:
        die_with_parent()
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)
