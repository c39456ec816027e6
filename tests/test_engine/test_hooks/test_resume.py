"""Kill and resume: SIGKILL in the middle of a checkpoint write, restart with --resume."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from _tiny_train import (GN_OPTIONS, TINY_CONFIG, TOTAL_ITERS, job_env, load_weights, max_abs_diff,
                         reference_run, run_job, session_root, train_command)
from mmengine.runner.checkpoint import find_latest_checkpoint

from mmpose_attn.engine.atomic_io import atomic_write

# Resumed and uninterrupted runs execute the same float32 operations in the same order on the same
# data (deterministic=True, 1 thread, no random augmentation, DefaultSampler reseeded per epoch),
# and the checkpoint restores weights, SGD momentum, LR schedulers and the iteration counter
# exactly, so the weights agree to the last bit in practice (measured: 0.0). 1e-7 allows only
# float32 rounding.
ATOL = 1e-7

# The shipped configs keep one epoch checkpoint: the kill must not find it already deleted.
KEEP_ONE = GN_OPTIONS + ['default_hooks.checkpoint.max_keep_ckpts=1']


def _train_until_hang(root, work_dir, hang_on: str, cfg_options, skip: int = 0) -> Path:
    """Start a training job that blocks in ``os.replace`` onto ``hang_on``, SIGKILL it there."""
    # session_root() is shared by the tests of a session: per-job names
    marker = root / f'{work_dir.name}.hang_marker'
    # Same config plus a test-only import that blocks the rename onto `hang_on`.
    hang_config = root / f'{work_dir.name}_hang_config.py'
    hang_config.write_text(f"_base_ = [{str(TINY_CONFIG)!r}]\n"
                           "custom_imports = dict(imports=['mmpose_attn', '_hang_on_replace'], "
                           "allow_failed_imports=False)\n")
    env = job_env(
        root / 'data',
        MMPOSE_ATTN_HANG_ON=hang_on,
        MMPOSE_ATTN_HANG_MARKER=str(marker),
        MMPOSE_ATTN_HANG_SKIP=str(skip))
    with open(root / f'{work_dir.name}.log', 'w') as log:
        proc = subprocess.Popen(
            train_command(hang_config, work_dir, cfg_options=cfg_options),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 240
            while not marker.exists():
                assert proc.poll() is None, (root / f'{work_dir.name}.log').read_text()[-3000:]
                assert time.time() < deadline, f'the job never reached the rename onto {hang_on}'
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return marker


def _resume_and_compare(root, work_dir, resumed_from: Path, epoch: int) -> str:
    log = run_job(
        train_command(TINY_CONFIG, work_dir, cfg_options=KEEP_ONE, resume=True),
        job_env(root / 'data'), root / f'{work_dir.name}.resumed.log')
    assert f'Auto resumed from the latest checkpoint {resumed_from}' in log
    iters = epoch * TOTAL_ITERS // 3
    assert f'resumed epoch: {epoch}, iter: {iters}' in log
    final = work_dir / 'epoch_3.pth'
    assert (work_dir / 'last_checkpoint').read_text() == str(final)
    ckpt = torch.load(final, map_location='cpu', weights_only=False)
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (3, TOTAL_ITERS)
    # optimizer (SGD momentum buffers) and LR scheduler state travel with the checkpoint
    assert ckpt['optimizer']['state'] and ckpt['param_schedulers']
    ref = torch.load(reference_run() / 'epoch_3.pth', map_location='cpu', weights_only=False)
    assert ckpt['param_schedulers'] == ref['param_schedulers']
    # max_keep_ckpts=1: the older checkpoints are gone once epoch_3 and last_checkpoint exist
    assert sorted(p.name for p in work_dir.glob('epoch_*.pth')) == ['epoch_3.pth']

    diff = max_abs_diff(load_weights(final), load_weights(reference_run() / 'epoch_3.pth'))
    print(f'max |w_resumed - w_uninterrupted| after {TOTAL_ITERS} iterations: {diff:.3e}')
    assert diff <= ATOL
    return log


@pytest.mark.slow
def test_sigkill_during_checkpoint_write_then_resume_matches_uninterrupted_run():
    root = session_root()
    work_dir = root / 'killed'
    # killed after epoch_1.pth exists and while epoch_2.pth is being written
    marker = _train_until_hang(root, work_dir, 'epoch_2.pth', KEEP_ONE)
    # max_keep_ckpts=1 and still there: nothing is deleted before its successor is in place
    assert (work_dir / 'epoch_1.pth').is_file()

    # What the kill left: epoch_2.pth was never published; its bytes sit in a hidden temp file.
    # Cut that file in half, as a kill in the middle of f.write() would have left it.
    tmp = work_dir / os.path.basename(marker.read_text())
    assert tmp.is_file() and tmp.name.startswith('.epoch_2.pth.') and tmp.name.endswith('.tmp')
    os.truncate(tmp, tmp.stat().st_size // 2)
    assert not (work_dir / 'epoch_2.pth').exists()
    assert find_latest_checkpoint(str(work_dir)) == str(work_dir / 'epoch_1.pth')

    _resume_and_compare(root, work_dir, work_dir / 'epoch_1.pth', epoch=1)
    assert not tmp.exists(), 'the partial temp file of the killed write was not cleaned up'


@pytest.mark.slow
def test_sigkill_between_checkpoint_and_last_checkpoint_resumes_newest_checkpoint():
    root = session_root()
    work_dir = root / 'killed_before_last_checkpoint'
    # killed after epoch_2.pth is published, while last_checkpoint is being recorded
    _train_until_hang(
        root,
        work_dir,
        'last_checkpoint',
        KEEP_ONE + [
            # the hang is armed for the second checkpoint only: the first records normally
            'default_hooks.checkpoint.interval=2'
        ])
    assert (work_dir / 'epoch_2.pth').is_file(), (sorted(p.name for p in work_dir.iterdir()),
                                                  (root /
                                                   f'{work_dir.name}.log').read_text()[-2000:])
    # mmengine's own hook records last_checkpoint only after the checkpoint; a kill in between
    # leaves no last_checkpoint at all, which is the state made here
    (work_dir / 'last_checkpoint').unlink(missing_ok=True)
    assert find_latest_checkpoint(str(work_dir)) is None

    log = _resume_and_compare(root, work_dir, work_dir / 'epoch_2.pth', epoch=2)
    assert 'resuming from the newest complete checkpoint' in log


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / 'last_checkpoint'
    atomic_write('work_dirs/x/epoch_1.pth', target)
    assert target.read_text() == 'work_dirs/x/epoch_1.pth'

    def crash(src, dst):
        raise KeyboardInterrupt  # stands for the process dying between write and rename

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write('work_dirs/x/epoch_2.pth', target)
    monkeypatch.undo()
    assert target.read_text() == 'work_dirs/x/epoch_1.pth'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['last_checkpoint']
    atomic_write(b'\x00' * 10, target)
    assert target.read_bytes() == b'\x00' * 10
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.slow
def test_sigkill_before_recording_newer_checkpoint_resumes_it_not_the_older_one():
    root = session_root()
    work_dir = root / 'killed_with_stale_last_checkpoint'
    # epoch_1.pth is saved and recorded; killed while epoch_2.pth, already published, is recorded
    _train_until_hang(root, work_dir, 'last_checkpoint', KEEP_ONE, skip=1)
    assert (work_dir / 'epoch_1.pth').is_file() and (work_dir / 'epoch_2.pth').is_file()
    # mmengine's hook writes last_checkpoint in place after the checkpoint; a kill just before that
    # write leaves it naming the previous checkpoint, which is the state made here
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    assert find_latest_checkpoint(str(work_dir)) == str(work_dir / 'epoch_1.pth')

    log = _resume_and_compare(root, work_dir, work_dir / 'epoch_2.pth', epoch=2)
    assert f'names {work_dir / "epoch_1.pth"}, but {work_dir / "epoch_2.pth"} is newer' in log
