"""mmpose_attn: an OpenMMLab plugin that registers ESAM and SAMKR into MMPose 1.x."""
import os
import os.path as osp
import re
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    """``__version__`` of mmpose_attn/version.py (read, not imported: the package imports mmcv)."""
    with open(osp.join(HERE, 'mmpose_attn', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def read_requirements(name: str, minimum: bool = False) -> list:
    """The requirement lines of requirements/<name>, without comments.

    ``minimum=True`` turns each tested pin ``pkg==X`` into ``pkg>=X``: what a wheel of this package
    asks pip for (the exact pins are tools/install.sh's; a user's newer numpy is kept).
    """
    reqs = []
    with open(osp.join(HERE, 'requirements', name)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                reqs.append(line.replace('==', '>=', 1) if minimum else line)
    return reqs


def openmmlab_ranges() -> list:
    """``mmcv``/``mmengine``/``mmpose`` ranges of the import guard in mmpose_attn/__init__.py.

    The ``mim`` extra as mmpose's (``mim install mmpose_attn[mim]``); read from the guard so that
    the two cannot differ.
    """
    with open(osp.join(HERE, 'mmpose_attn', '__init__.py')) as f:
        text = f.read()
    reqs = []
    for name in ('mmcv', 'mmengine', 'mmpose'):
        low, high = (re.search(rf"{name}_{end}_version = '([^']+)'", text).group(1)
                     for end in ('minimum', 'maximum'))
        reqs.append(f'{name}>={low},<{high}')
    return reqs


def add_mim_extension() -> None:
    """Put model-index.yml, its metafiles and the configs into ``mmpose_attn/.mim``.

    ``mim search mmpose_attn`` reads ``<installed package>/.mim/model-index.yml`` (as for
    mmpose); ``mim train mmpose_attn <name>`` finds configs there. Symlinks for a develop /
    editable install (the checkout stays the only copy), copies for a regular install or wheel.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('install', 'bdist_wheel', 'sdist', 'build', 'build_py')):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'mmpose_attn', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('model-index.yml', 'configs'):
        src, dst = osp.join(HERE, name), osp.join(mim_path, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


add_mim_extension()

setup(
    name='mmpose_attn',
    version=read_version(),
    description='ESAM (top-down) and SAMKR (bottom-up) attention pose models for MMPose 1.x',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    include_package_data=True,
    package_data={'mmpose_attn': ['.mim/model-index.yml', '.mim/configs/**/*']},
    python_requires='>=3.9',
    # As mmpose's setup.py: the runtime requirements (tested versions as the minimum). The
    # OpenMMLab packages are the `mim` extra, as mmpose's; tools/install.sh installs them with
    # --no-deps (their own declared deps pull chumpy and opencv-python) and this package with
    # --no-deps too. xtcocotools is left out: its wheel is built against numpy 1 (source.txt).
    install_requires=read_requirements('runtime.txt', minimum=True),
    extras_require={
        'all': read_requirements('runtime.txt', minimum=True) + openmmlab_ranges(),
        'runtime': read_requirements('runtime.txt'),
        'tests': read_requirements('tests.txt'),
        'optional': read_requirements('optional.txt'),
        'mim': openmmlab_ranges(),
    },
    zip_safe=False,
)
