"""``python TOOL --help`` of several tools in one interpreter start (imports paid once).

Each tool runs as ``__main__`` with ``sys.argv = [TOOL, '--help']`` in a fresh child Python whose
PYTHONPATH holds the tools' folders, as Python itself puts a script's folder first on ``sys.path``.
"""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r'''
import contextlib, io, json, runpy, sys
out = {}
for tool in sys.argv[1:]:
    buf, code = io.StringIO(), 0
    sys.argv = [tool, '--help']
    with contextlib.redirect_stdout(buf):
        try:
            runpy.run_path(tool, run_name='__main__')
        except SystemExit as e:
            code = e.code or 0
        except Exception as e:  # reported as the tool's result
            code, buf = 1, io.StringIO(f'{type(e).__name__}: {e}')
    out[tool] = (code, buf.getvalue())
print(json.dumps(out))
'''


def help_texts(tools: Sequence[str], timeout: float = 600) -> Dict[str, Tuple[int, str]]:
    """``{tool: (exit code, stdout)}`` of ``python tool --help`` for tools relative to the root."""
    folders = sorted({str(ROOT / Path(t).parent) for t in tools})
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(folders + [env.get('PYTHONPATH', '')]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, '-c', _CHILD, *tools],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {k: tuple(v) for k, v in json.loads(proc.stdout.splitlines()[-1]).items()}
