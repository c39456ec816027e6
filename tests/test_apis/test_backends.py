"""The backend tests (backends_cases.py: PyTorch bf16, ONNX Runtime, OpenVINO under mmpose's
decoding) in a pytest process of their own.

With OpenVINO's and ONNX Runtime's native runtimes loaded into the one long process of the whole
suite, a later test died with SIGSEGV inside the interpreter (2026-12-06, AMD EPYC, torch 2.14.1,
openvino 2026.4.1; not reproduced with either runtime alone, cause not found). A child process
keeps that from taking the rest of the suite with it; its own report is shown on failure.
"""
import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).resolve().with_name('backends_cases.py')
REPO = Path(__file__).resolve().parents[2]


def test_backend_cases_pass_in_their_own_process():
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           str(CASES)], cwd=REPO, capture_output=True, text=True, timeout=3000)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ''
    assert proc.returncode == 0, f'{tail}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}'
    # every case ran (none skipped for a missing runtime unless openvino is absent)
    assert ' passed' in tail and ' failed' not in tail, tail
