"""`mim` from the repo root, as the runner tests and the multi-scale `mim test` use it."""
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# ("coco/AP", "coco/AR") etc. as logged by mmengine: "coco/AP: 0.123456"
METRIC = r'{}: (-?\d+\.\d+)'


def _installed_here() -> bool:
    """Whether a python started outside the repo imports this checkout's mmpose_attn."""
    origin = subprocess.run([
        sys.executable, '-c', 'import importlib.util as u; s = u.find_spec("mmpose_attn"); '
        'print(s.origin if s else "")'
    ],
                            cwd=os.path.abspath(os.sep),
                            capture_output=True,
                            text=True).stdout.strip()
    return bool(origin) and Path(origin).resolve().parents[1] == REPO_ROOT


def _mim(*args: str, timeout: int = 400) -> str:
    """Run ``mim ARGS`` from the repo root and return its stdout + stderr."""
    env = dict(os.environ)
    # one compute thread: on a shared 2-core machine OpenMP threads wait for each other
    env.setdefault('OMP_NUM_THREADS', '1')
    # configs import mmpose_attn (custom_imports) and mim runs mmpose's tools/train.py, which does
    # not see the current directory: with `pip install -e .` no variable is needed (the user's
    # path, tested as is); an uninstalled checkout is made importable
    if not _installed_here():
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get('PYTHONPATH')]))
    proc = subprocess.run(['mim', *args],
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'mim {" ".join(args)} failed:\n{out[-4000:]}'
    return out


def _metric(out: str, name: str) -> float:
    values = re.findall(METRIC.format(re.escape(name)), out)
    assert values, f'{name} not printed:\n{out[-3000:]}'
    return float(values[-1])
