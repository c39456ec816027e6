"""Crash-safe local file writes for checkpoints.

mmengine's ``LocalBackend.put`` opens the target with ``'wb'`` (truncating it) and streams the
bytes, so a job killed mid-write (SIGKILL, OOM killer, Slurm preemption, power loss) leaves a
truncated ``epoch_N.pth``. :class:`AtomicLocalBackend` writes to a temporary file in the same
directory, ``fsync``\\ s it, and ``os.replace``\\ s it onto the target (atomic on POSIX and
Windows), then ``fsync``\\ s the directory so the rename itself survives a power cut. A reader
therefore sees the old file or the complete new one, never a prefix; a crash leaves at most a hidden
``.*.tmp`` file.

Registered with mmengine's public :func:`mmengine.fileio.register_backend` as ``'atomic_local'`` (it
does not replace the default local backend); :class:`~mmpose_attn.engine.hooks.AtomicCheckpointHook`
uses it.
"""
import contextlib
import os
import os.path as osp
import uuid
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend


def atomic_write(data: Union[bytes, str],
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``filepath`` so that readers see the old or the complete new file."""
    filepath = os.fspath(filepath)
    dirname = osp.dirname(osp.abspath(filepath))
    os.makedirs(dirname, exist_ok=True)
    if isinstance(data, str):
        data = data.encode(encoding)
    # Same directory as the target: os.replace is only atomic within one file system.
    tmp_path = osp.join(dirname,
                        f'.{osp.basename(filepath)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')
    # os.open with 0o666 honours the umask like open(); tempfile.mkstemp would force mode 0600.
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_BINARY', 0), 0o666)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        raise
    _fsync_dir(dirname)


def _fsync_dir(dirname: str) -> None:
    """Persist a rename; directories cannot be opened for fsync on Windows, where it is skipped."""
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@register_backend('atomic_local', force=True)
class AtomicLocalBackend(LocalBackend):
    """:class:`mmengine.fileio.LocalBackend` with atomic ``put``/``put_text`` (see module doc)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes with :func:`atomic_write`."""
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        """Write text with :func:`atomic_write`."""
        atomic_write(obj, filepath, encoding=encoding)
