"""Packaging as mmpose's: version_info, install_requires from the requirements files, the `mim`
extra with the import guard's ranges, the license file setup.py names."""
import runpy
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]


def _setup_kwargs() -> dict:
    with mock.patch('setuptools.setup') as setup:
        runpy.run_path(str(ROOT / 'setup.py'))
    return setup.call_args.kwargs


def test_version_info():
    import mmpose_attn
    from mmpose_attn.version import parse_version_info
    assert mmpose_attn.version_info == tuple(int(x) for x in mmpose_attn.__version__.split('.'))
    assert parse_version_info('1.0.0rc2') == (1, 0, 0, 'rc2')


def test_install_requires_and_mim_extra():
    import mmpose_attn
    kwargs = _setup_kwargs()
    pins = [
        ln.split('#')[0].strip()
        for ln in (ROOT / 'requirements/runtime.txt').read_text().splitlines()
        if ln.split('#')[0].strip()
    ]
    # every runtime requirement, its tested version as the minimum
    assert kwargs['install_requires'] == [p.replace('==', '>=') for p in pins]
    assert kwargs['extras_require']['runtime'] == pins
    guard = [
        f'{name}>={getattr(mmpose_attn, name + "_minimum_version")},'
        f'<{getattr(mmpose_attn, name + "_maximum_version")}'
        for name in ('mmcv', 'mmengine', 'mmpose')
    ]
    assert kwargs['extras_require']['mim'] == guard
    assert kwargs['license'] == 'Apache-2.0'
    text = (ROOT / 'LICENSE').read_text()
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
    assert 'END OF TERMS AND CONDITIONS' in text
