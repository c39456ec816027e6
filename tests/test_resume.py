"""Kill and resume: SIGKILL in the middle of a checkpoint write, restart with --resume."""
import os
import signal
import subprocess
import time

import pytest
import torch
from mmengine.runner.checkpoint import find_latest_checkpoint

from _tiny_train import (GN_OPTIONS, TINY_CONFIG, TOTAL_ITERS, job_env, load_weights, max_abs_diff,
                         reference_run, run_job, session_root, train_command)
from mmpose_attn.engine.atomic_io import atomic_write

# Resumed and uninterrupted runs execute the same float32 operations in the same order on the same
# data (deterministic=True, 1 thread, no random augmentation, DefaultSampler reseeded per epoch), and
# the checkpoint restores weights, SGD momentum, LR schedulers and the iteration counter exactly, so
# the weights agree to the last bit in practice (measured: 0.0). 1e-7 allows only float32 rounding.
ATOL = 1e-7


@pytest.mark.slow
def test_sigkill_during_checkpoint_write_then_resume_matches_uninterrupted_run():
    root = session_root()
    work_dir = root / 'killed'
    marker = root / 'hang_marker'
    # Same config plus a test-only import that blocks the rename of epoch_2.pth: the job is killed
    # after the first checkpoint exists and while the second one is being written.
    hang_config = root / 'hang_config.py'
    hang_config.write_text(
        f"_base_ = [{str(TINY_CONFIG)!r}]\n"
        "custom_imports = dict(imports=['mmpose_attn', '_hang_on_replace'], "
        "allow_failed_imports=False)\n")
    env = job_env(root / 'data', MMPOSE_ATTN_HANG_ON='epoch_2.pth',
                  MMPOSE_ATTN_HANG_MARKER=str(marker))
    with open(root / 'killed.log', 'w') as log:
        proc = subprocess.Popen(train_command(hang_config, work_dir, cfg_options=GN_OPTIONS),
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 240
            while not marker.exists():
                assert proc.poll() is None, (root / 'killed.log').read_text()[-3000:]
                assert time.time() < deadline, 'the job never reached the second checkpoint'
                time.sleep(0.05)
            assert (work_dir / 'epoch_1.pth').is_file()
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # What the kill left: epoch_2.pth was never published; its bytes sit in a hidden temp file.
    # Cut that file in half, as a kill in the middle of f.write() would have left it.
    tmp = work_dir / os.path.basename(marker.read_text())
    assert tmp.is_file() and tmp.name.startswith('.epoch_2.pth.') and tmp.name.endswith('.tmp')
    os.truncate(tmp, tmp.stat().st_size // 2)
    assert not (work_dir / 'epoch_2.pth').exists()
    assert find_latest_checkpoint(str(work_dir)) == str(work_dir / 'epoch_1.pth')

    log = run_job(train_command(TINY_CONFIG, work_dir, cfg_options=GN_OPTIONS, resume=True),
                  job_env(root / 'data'), root / 'resumed.log')
    assert f'Auto resumed from the latest checkpoint {work_dir / "epoch_1.pth"}' in log
    assert 'resumed epoch: 1, iter: 4' in log
    assert not tmp.exists(), 'the partial temp file of the killed write was not cleaned up'
    final = work_dir / 'epoch_3.pth'
    assert (work_dir / 'last_checkpoint').read_text() == str(final)
    meta = torch.load(final, map_location='cpu', weights_only=False)['meta']
    assert (meta['epoch'], meta['iter']) == (3, TOTAL_ITERS)
    assert not (work_dir / 'epoch_4.pth').exists()

    diff = max_abs_diff(load_weights(final), load_weights(reference_run() / 'epoch_3.pth'))
    print(f'max |w_resumed - w_uninterrupted| after {TOTAL_ITERS} iterations: {diff:.3e}')
    assert diff <= ATOL


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
