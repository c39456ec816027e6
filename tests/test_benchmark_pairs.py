"""benchmark.py --pairs: the SAMKR predict timing runs only when a bottom-up pair is selected."""
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH = REPO_ROOT / 'tools' / 'analysis' / 'benchmark.py'
TINY_TD = ['--td-batches', '1', '--td-shape', '32', '24', '--repeats', '1', '--warmup', '0',
           '--threads', '1']


def _bench(*args):
    proc = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_topdown_pair_skips_samkr_predict():
    out = _bench('--pairs', 'esam-r50', *TINY_TD)
    assert 'ESAM-R50' in out and 'SimpleBaseline-R50' in out
    assert 'SAMKR-W32 predict' not in out
