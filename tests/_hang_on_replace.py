"""Test-only fault injection, imported by a job through ``custom_imports``.

``os.replace`` onto a file whose name equals ``$MMPOSE_ATTN_HANG_ON`` creates the marker file
``$MMPOSE_ATTN_HANG_MARKER`` and blocks, so that a test can SIGKILL the job in the middle of writing
that checkpoint (the temp file is written, the rename has not happened).
"""
import os
import os.path as osp
import time

_target = os.environ.get('MMPOSE_ATTN_HANG_ON')
_marker = os.environ.get('MMPOSE_ATTN_HANG_MARKER')
_real_replace = os.replace


def _replace(src, dst, *args, **kwargs):
    if _target and osp.basename(os.fspath(dst)) == _target:
        with open(_marker, 'w') as f:
            f.write(os.fspath(src))
        time.sleep(600)
    return _real_replace(src, dst, *args, **kwargs)


os.replace = _replace
