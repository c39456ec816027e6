"""Check, in one interpreter start, whether this Python has what tools/install.sh installs.

``tools/ensure_installed.sh`` and ``tools/install.sh`` run this file by path, before anything may
be installed (standard library only, then the imports it checks). It prints what is missing, one
"name: detail" line each (name: a requirements file or an import check), and exits 1; it prints
nothing and exits 0 when everything is there. ``--probe`` prints instead the import checks that
pass (of torch mmcv xtcocotools mmpose_attn mmpose_attn_runtime), for install.sh.

    python tools/install/install_check.py [--probe]

Run by path, Python puts this folder first on ``sys.path``; nothing in it shadows a package.
"""
import importlib.metadata as metadata
import importlib.util
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQ = os.path.join(ROOT, 'requirements')
# The pinned files whose every line must be satisfied (mmcv.txt: the mmcv check below). Not
# optional.txt: install.sh's optional step may fail on some platforms (only ONNX export is lost).
REQUIREMENT_FILES = ('build.txt', 'runtime.txt', 'mminstall.txt', 'source.txt', 'tests.txt')


def _requirement_class():
    try:
        from packaging.requirements import Requirement
    except ImportError:  # a fresh venv has pip's vendored copy only
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


def unmet_requirements(name):
    """The lines of requirements/<name> that the installed distributions do not satisfy."""
    Requirement = _requirement_class()
    unmet = []
    with open(os.path.join(REQ, name)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if not line:
                continue
            req = Requirement(line)
            try:
                version = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                unmet.append(line)
                continue
            if req.specifier and not req.specifier.contains(version, prereleases=True):
                unmet.append(f'{line} (found {version})')
    return unmet


def _mmcv_version():
    with open(os.path.join(REQ, 'mmcv.txt')) as f:
        pins = [ln.strip() for ln in f if ln.startswith('mmcv==')]
    return pins[0].split('==', 1)[1]


def _torch_pair():
    import torch  # noqa: F401
    import torchvision
    torchvision.ops.nms


def _nvcc():
    if 'MMPOSE_ATTN_NVCC' in os.environ:  # install.sh's finding
        return os.environ['MMPOSE_ATTN_NVCC']
    cuda_home = os.environ.get('CUDA_HOME', '/nonexistent')
    return shutil.which('nvcc') or (os.path.join(cuda_home, 'bin', 'nvcc') if os.access(
        os.path.join(cuda_home, 'bin', 'nvcc'), os.X_OK) else '')


def _mmcv_ops():
    import mmcv._ext  # noqa: F401
    import torch
    from mmcv.ops import DeformConv2d  # noqa: F401
    if torch.cuda.is_available() and _nvcc():
        # a GPU and nvcc: an mmcv built without CUDA ops is rebuilt with them
        from mmcv.ops import get_compiling_cuda_version
        if get_compiling_cuda_version() == 'not available':
            return False
    return metadata.version('mmcv') == _mmcv_version()


def _xtcocotools():
    from xtcocotools.cocoeval import COCOeval  # noqa: F401


def _this_package():
    # find_spec does not run the package (importing it would import all of mmpose: seconds)
    spec = importlib.util.find_spec('mmpose_attn')
    return spec is not None and spec.origin is not None and (os.path.realpath(
        os.path.dirname(spec.origin)) == os.path.realpath(os.path.join(ROOT, 'mmpose_attn')))


def _runtime_package():
    # the light runtime (runtime/), installed editable from this checkout (found, not run)
    spec = importlib.util.find_spec('mmpose_attn_runtime')
    return spec is not None and spec.origin is not None and (os.path.realpath(
        os.path.dirname(spec.origin)) == os.path.realpath(
            os.path.join(ROOT, 'runtime', 'mmpose_attn_runtime')))


IMPORT_CHECKS = [
    ('torch', 'torch: no importable torch + torchvision pair', _torch_pair),
    ('mmcv', f'mmcv: no mmcv=={_mmcv_version()} whose compiled ops import', _mmcv_ops),
    ('xtcocotools', 'xtcocotools: does not import', _xtcocotools),
    ('mmpose_attn', f'mmpose_attn: not installed from {ROOT}', _this_package),
    ('mmpose_attn_runtime', f'mmpose_attn_runtime: not installed from {ROOT}/runtime',
     _runtime_package),
]


def passing_imports():
    ok = []
    for name, _, check in IMPORT_CHECKS:
        try:
            if check() is not False:
                ok.append(name)
        except Exception:
            pass
    return ok


def missing():
    """Human-readable items that tools/install.sh would install; empty when all is there."""
    if sys.version_info < (3, 9):
        return [f'python: needs >= 3.9 (this is {sys.version.split()[0]})']
    items = []
    try:
        for name in REQUIREMENT_FILES:
            unmet = unmet_requirements(name)
            if unmet:
                items.append(f'{name}: {", ".join(unmet)}')
    except ImportError:
        items.append('packaging: needed to read requirements/*.txt')
    ok = passing_imports()
    items += [label for name, label, _ in IMPORT_CHECKS if name not in ok]
    return items


def main():
    if sys.argv[1:] == ['--probe']:
        print(' '.join(passing_imports()))
        return 0
    if sys.argv[1:]:
        sys.exit(f'usage: {sys.argv[0]} [--probe]')
    items = missing()
    for item in items:
        print(item)
    return 1 if items else 0


if __name__ == '__main__':
    sys.exit(main())
