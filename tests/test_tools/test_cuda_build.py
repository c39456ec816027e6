"""The CUDA build environment that tools/install.sh exports before building mmcv."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from cuda_build import arch_list, build_env, nvidia_include_dirs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPER = osp.join(REPO, 'tools', 'install', 'cuda_build.py')


def _site(tmp_path, name, layouts):
    """A fake site-packages with cusparse.h in each of ``layouts`` (relative folders)."""
    site = tmp_path / name
    for rel in layouts:
        d = site / rel
        d.mkdir(parents=True)
        (d / 'cusparse.h').write_text('/* fake */\n')
    (site / 'nvidia' / 'cublas' / 'include').mkdir(parents=True)  # no cusparse.h: not taken
    return str(site)


def test_arch_list_from_capability():
    assert arch_list((9, 0)) == '9.0'
    assert arch_list((8, 6)) == '8.6'
    with pytest.raises(ValueError, match='invalid compute capability'):
        arch_list((0, -1))


def test_include_dirs_new_and_old_layouts(tmp_path):
    new = _site(tmp_path, 'a', ['nvidia/cu13/include'])
    old = _site(tmp_path, 'b', ['nvidia/cusparse/include'])
    empty = _site(tmp_path, 'c', [])
    assert nvidia_include_dirs([new, old, empty, new]) == [
        osp.join(new, 'nvidia', 'cu13', 'include'),
        osp.join(old, 'nvidia', 'cusparse', 'include')
    ]
    assert nvidia_include_dirs([empty]) == []


def test_build_env_gpu_and_nvcc(tmp_path):
    site = _site(tmp_path, 'sp', ['nvidia/cu12/include'])
    env = build_env((9, 0), '/usr/local/cuda/bin/nvcc', [site], {'CPATH': '/opt/inc'}, 16)
    assert env == dict(
        FORCE_CUDA='1',
        MMCV_WITH_OPS='1',
        TORCH_CUDA_ARCH_LIST='9.0',
        MAX_JOBS='16',
        CPATH=osp.join(site, 'nvidia', 'cu12', 'include') + os.pathsep + '/opt/inc')


def test_build_env_user_values_win_and_cpath_not_duplicated(tmp_path):
    site = _site(tmp_path, 'sp', ['nvidia/cu13/include'])
    inc = osp.join(site, 'nvidia', 'cu13', 'include')
    env = build_env((8, 0), 'nvcc', [site], {
        'TORCH_CUDA_ARCH_LIST': '8.0;9.0',
        'MAX_JOBS': '4',
        'CPATH': inc
    }, 16)
    assert env['TORCH_CUDA_ARCH_LIST'] == '8.0;9.0'
    assert env['MAX_JOBS'] == '4'
    assert 'CPATH' not in env  # already there


def test_build_env_cpu_or_no_nvcc_is_empty(tmp_path):
    site = _site(tmp_path, 'sp', ['nvidia/cu13/include'])
    assert build_env(None, '/usr/bin/nvcc', [site], {}, 2) == {}
    assert build_env((9, 0), None, [site], {}, 2) == {}


def test_cli_prints_nothing_without_gpu():
    import torch
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    out = subprocess.run([sys.executable, HELPER], capture_output=True, text=True, check=True)
    assert out.stdout == ''
