"""Session fixtures: the small exported models of :mod:`_runtime_models`."""
import pytest
from _runtime_models import ESAM, SAMKR, SAMKR_HW, export


@pytest.fixture(scope='session')
def esam_onnx(tmp_path_factory):
    return export(ESAM, tmp_path_factory.mktemp('rt_esam') / 'esam.onnx', (128, 96))


@pytest.fixture(scope='session')
def samkr_onnx(tmp_path_factory):
    return export(SAMKR, tmp_path_factory.mktemp('rt_samkr') / 'samkr.onnx', SAMKR_HW)


@pytest.fixture(scope='session')
def samkr_any_onnx(tmp_path_factory):
    """SAMKR exported for any input size (the default of tools/deployment/export_onnx.py)."""
    return export(
        SAMKR,
        tmp_path_factory.mktemp('rt_samkr_any') / 'samkr_any.onnx',
        SAMKR_HW,
        dynamic_hw=True)
