"""Build environment for mmcv's CUDA ops: which GPU architecture, which header folders.

``tools/install.sh`` runs this file by path (before ``mmpose_attn`` is importable, so it uses
the standard library and torch only) and ``eval``\\ s what it prints::

    python tools/install/cuda_build.py            # prints ``export NAME=value`` lines

On a machine where torch sees a GPU and ``nvcc`` exists it sets ``FORCE_CUDA=1``,
``MMCV_WITH_OPS=1``, ``TORCH_CUDA_ARCH_LIST`` to the detected compute capability only (one
architecture builds several times faster than mmcv's default list), ``MAX_JOBS`` to the CPU
count, and puts the CUDA header folders that ship in torch's pip dependencies
(``site-packages/nvidia/cu13/include``; ``nvidia/cu12/include``; per-library
``nvidia/cusparse/include`` in older layouts) on ``CPATH``: a system CUDA without cuSPARSE
headers otherwise fails with ``fatal error: cusparse.h: No such file or directory``. Values
the user already exported win. Elsewhere it prints nothing.
"""
import os
import os.path as osp
import shlex
import shutil
import sys
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

#: Header folders of torch's ``nvidia-*`` pip dependencies, relative to site-packages, in the
#: order they are tried (newest layout first).
NVIDIA_INCLUDE_CANDIDATES = ('nvidia/cu13/include', 'nvidia/cu12/include',
                             'nvidia/cusparse/include')
#: The header whose absence breaks the build.
MARKER_HEADER = 'cusparse.h'


def arch_list(capability: Tuple[int, int]) -> str:
    """``TORCH_CUDA_ARCH_LIST`` for one device: ``(9, 0)`` -> ``'9.0'``."""
    major, minor = capability
    if major < 1 or minor < 0:
        raise ValueError(f'cuda_build: invalid compute capability {capability!r}')
    return f'{major}.{minor}'


def nvidia_include_dirs(site_dirs: Sequence[str]) -> List[str]:
    """Folders under ``site_dirs`` that hold ``cusparse.h`` from torch's pip dependencies.

    Args:
        site_dirs: site-packages folders, the one holding torch first.

    Returns:
        list: existing folders, in :data:`NVIDIA_INCLUDE_CANDIDATES` order per site folder,
        without duplicates; empty when none has the header.
    """
    found: List[str] = []
    for site in site_dirs:
        for rel in NVIDIA_INCLUDE_CANDIDATES:
            d = osp.realpath(osp.join(site, *rel.split('/')))
            if osp.isfile(osp.join(d, MARKER_HEADER)) and d not in found:
                found.append(d)
    return found


def build_env(capability: Optional[Tuple[int, int]], nvcc: Optional[str], site_dirs: Sequence[str],
              environ: Mapping[str, str], cpu_count: int) -> Dict[str, str]:
    """Environment variables for building mmcv with CUDA ops.

    Args:
        capability: ``torch.cuda.get_device_capability()`` of the GPU, or ``None`` without one.
        nvcc: path of ``nvcc``, or ``None`` when it is not installed.
        site_dirs: site-packages folders searched for the pip CUDA headers.
        environ: the current environment (user-set values are kept).
        cpu_count: parallel compile jobs.

    Returns:
        dict: variables to export; empty without a GPU or without ``nvcc`` (CPU-only build).
    """
    if capability is None or not nvcc:
        return {}
    env = dict(
        FORCE_CUDA='1',
        MMCV_WITH_OPS='1',
        TORCH_CUDA_ARCH_LIST=environ.get('TORCH_CUDA_ARCH_LIST') or arch_list(capability),
        MAX_JOBS=environ.get('MAX_JOBS') or str(max(1, cpu_count)))
    dirs = nvidia_include_dirs(site_dirs)
    old = [p for p in environ.get('CPATH', '').split(os.pathsep) if p]
    new = [d for d in dirs if d not in old]
    if new:
        env['CPATH'] = os.pathsep.join(new + old)
    return env


def find_nvcc(environ: Mapping[str, str]) -> Optional[str]:
    """``nvcc`` on ``PATH``, else under ``$CUDA_HOME/bin`` (as torch's extension builder)."""
    path = shutil.which('nvcc')
    if path:
        return path
    home = environ.get('CUDA_HOME') or environ.get('CUDA_PATH')
    if home and osp.isfile(osp.join(home, 'bin', 'nvcc')):
        return osp.join(home, 'bin', 'nvcc')
    return None


def detect() -> Dict[str, str]:
    """:func:`build_env` for this machine (imports torch)."""
    import site

    import torch
    capability = None
    if torch.cuda.is_available():
        capability = tuple(torch.cuda.get_device_capability(0))
    nvcc = find_nvcc(os.environ)
    sites = [osp.dirname(osp.dirname(osp.abspath(torch.__file__)))]
    try:
        sites += site.getsitepackages()
    except AttributeError:  # virtualenv's old site module
        pass
    return build_env(capability, nvcc, sites, os.environ, os.cpu_count() or 1)


def main(argv: Optional[Sequence[str]] = None) -> int:
    for k, v in detect().items():
        print(f'export {k}={shlex.quote(v)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
