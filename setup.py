"""mmpose_attn: an OpenMMLab plugin that registers ESAM and SAMKR into MMPose 1.x."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    with open(osp.join(HERE, 'mmpose_attn', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def read_requirements(name: str) -> list:
    reqs = []
    with open(osp.join(HERE, 'requirements', name)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                reqs.append(line)
    return reqs


setup(
    name='mmpose_attn',
    version=read_version(),
    description='ESAM (top-down) and SAMKR (bottom-up) attention pose models for MMPose 1.x',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.9',
    # The OpenMMLab packages are installed by tools/install.sh with --no-deps (see that script):
    # declaring them here would make pip pull chumpy and opencv-python.
    install_requires=[],
    extras_require={
        'runtime': read_requirements('runtime.txt'),
        'tests': read_requirements('tests.txt'),
        'optional': read_requirements('optional.txt'),
    },
    zip_safe=False,
)
