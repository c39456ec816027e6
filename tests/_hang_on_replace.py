"""Test-only fault injection, imported by a job through ``custom_imports``.

``os.replace`` onto a file whose name equals ``$MMPOSE_ATTN_HANG_ON`` creates the marker file
``$MMPOSE_ATTN_HANG_MARKER`` and blocks, so that a test can SIGKILL the job in the middle of writing
that checkpoint (the temp file is written, the rename has not happened); the first
``$MMPOSE_ATTN_HANG_SKIP`` (default 0) such renames go through.
"""
import os
import os.path as osp
import time

_target = os.environ.get('MMPOSE_ATTN_HANG_ON')
_marker = os.environ.get('MMPOSE_ATTN_HANG_MARKER')
_skip = [int(os.environ.get('MMPOSE_ATTN_HANG_SKIP', '0'))]
_real_replace = os.replace


def _replace(src, dst, *args, **kwargs):
    if _target and osp.basename(os.fspath(dst)) == _target:
        if _skip[0] > 0:  # let the first MMPOSE_ATTN_HANG_SKIP renames through
            _skip[0] -= 1
            return _real_replace(src, dst, *args, **kwargs)
        with open(_marker, 'w') as f:
            f.write(os.fspath(src))
        time.sleep(600)
    return _real_replace(src, dst, *args, **kwargs)


os.replace = _replace
