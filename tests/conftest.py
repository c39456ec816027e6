"""Shared fixtures. The real COCO/CrowdPose samples live at ../shared/data beside the repo; users'
clones do not have them, so every test that needs them skips cleanly."""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get('MMPOSE_ATTN_SHARED_DATA', REPO_ROOT.parent / 'shared' / 'data'))


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """Root of the real samples (coco/, crowdpose/, demo/); skips the test when absent."""
    if not (SHARED_DATA / 'coco' / 'annotations' / 'test_coco.json').is_file():
        pytest.skip(f'real samples not found at {SHARED_DATA}')
    return SHARED_DATA
