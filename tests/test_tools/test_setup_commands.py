"""The README's two commands (tools/quickstart.sh, tools/run_tests.sh) and their set-up step.

Every run here sets MMPOSE_ATTN_NO_INSTALL=1: a test never installs; where something is missing the
step lists it and stops. The installing path itself is measured from a fresh venv (docs/install.md).
"""
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _pin(name, file):
    lines = (REPO / 'requirements' / file).read_text().splitlines()
    return next(ln.strip() for ln in lines if ln.startswith(f'{name}=='))


MMCV_PIN, NUMPY_PIN = _pin('mmcv', 'mmcv.txt'), _pin('numpy', 'runtime.txt')


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    return dict(env, MMPOSE_ATTN_NO_INSTALL='1', **extra)


def _run(cmd, env, timeout=300):
    return subprocess.run(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout)


def test_quickstart_with_everything_installed_goes_straight_to_the_job(tmp_path):
    """The "already installed" path: no set-up line at all, step 1 runs, then the run is stopped."""
    out = tmp_path / 'qs'
    proc = subprocess.Popen(['bash', 'tools/quickstart.sh', str(out)],
                            cwd=REPO,
                            env=_env(TRAIN_IMAGES='3', VAL_IMAGES='2'),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True,
                            start_new_session=True)
    # the whole process group (mim and its trainer too) goes once training starts, or after 5 min
    stop = threading.Timer(300, os.killpg, (proc.pid, signal.SIGKILL))
    stop.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip('\n'))
            if line.startswith('== 2/4'):
                break
    finally:
        stop.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    text = '\n'.join(lines)
    assert lines and lines[0] == f'== 1/4 generating synthetic COCO-format data in {out}/data', text
    assert not [ln for ln in lines if ln.startswith(('[setup]', '[install'))], text
    assert lines[-1].startswith('== 2/4 training configs/synthetic/'), text
    assert re.search(r'^   train: 3 images, \d+ people -> ', text, re.M), text
    assert (out / 'data' / 'annotations' / 'val.json').is_file()


def test_quickstart_in_a_bare_venv_lists_what_is_missing_and_stops(tmp_path):
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    before = sorted(p.name for p in venv.rglob('*'))
    proc = _run(['bash', 'tools/quickstart.sh', str(tmp_path / 'qs')],
                _env(VIRTUAL_ENV=str(venv)),
                timeout=120)
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.startswith(f'[setup] missing in {venv}/bin/python:\n'), proc.stdout
    for item in ('torch: no importable torch + torchvision pair',
                 f'mmcv: no {MMCV_PIN} whose compiled ops import', 'xtcocotools: does not import'):
        assert f'\n  {item}\n' in proc.stdout, proc.stdout
    assert 'MMPOSE_ATTN_NO_INSTALL=1, so nothing was installed' in proc.stdout
    assert '== 1/4' not in proc.stdout and not (tmp_path / 'qs').exists()
    assert sorted(p.name for p in venv.rglob('*')) == before  # nothing went into the venv


def test_a_version_off_its_pin_counts_as_missing(tmp_path):
    """Pins, not presence: numpy metadata saying 1.0 (first on sys.path) is reported as missing."""
    meta = tmp_path / 'shadow' / 'numpy-1.0.dist-info'
    meta.mkdir(parents=True)
    (meta / 'METADATA').write_text('Metadata-Version: 2.1\nName: numpy\nVersion: 1.0\n')
    path = os.pathsep.join(p for p in [str(meta.parent), os.environ.get('PYTHONPATH')] if p)
    proc = _run(['bash', 'tools/run_tests.sh', '--collect-only'],
                _env(PYTHON=sys.executable, PYTHONPATH=path))
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.splitlines()[:2] == [
        f'[setup] missing in {sys.executable}:', f'  runtime.txt: {NUMPY_PIN} (found 1.0)'
    ], proc.stdout
    assert 'collected' not in proc.stdout  # pytest never started


def test_run_tests_keeps_pytest_closing_line_and_exit_code(tmp_path):
    (tmp_path / 'test_two.py').write_text('def test_ok():\n    pass\n\n\n'
                                          'def test_bad():\n    assert 1 == 2\n')
    proc = _run(
        ['bash', 'tools/run_tests.sh',
         str(tmp_path / 'test_two.py'), '-p', 'no:cacheprovider'], _env())
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 1, proc.stdout  # pytest's "tests failed"
    assert re.fullmatch(r'1 failed, 1 passed in [\d.]+s', lines[-1]), proc.stdout
    assert not [ln for ln in lines if ln.startswith(('[setup]', '[install'))], proc.stdout


def test_ci_runs_the_readme_test_command_and_nothing_else():
    readme = (REPO / 'README.md').read_text()
    block = re.search(r'### The two commands\n\n```bash\n(.*?)```', readme, re.S).group(1)
    commands = [ln.split('#')[0].strip() for ln in block.splitlines() if ln.split('#')[0].strip()]
    assert commands == ['bash tools/quickstart.sh', 'bash tools/run_tests.sh']
    ci = REPO / '.ci' / 'run'
    body = [ln for ln in ci.read_text().splitlines() if ln.strip() and not ln.startswith('#')]
    assert body == [f'cd "$(dirname "$0")/.." && exec {commands[1]}']
    assert os.access(ci, os.X_OK)
