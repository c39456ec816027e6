"""tools/analysis/gpu_check.py in its CPU quick mode: every section runs and reports sane values."""
import json
import math
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_gpu_check_quick_cpu(tmp_path):
    out = tmp_path / 'result.json'
    p = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'analysis', 'gpu_check.py'),
                        '--device', 'cpu', '--quick', '--out', str(out)],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    for key in ('parity_deform_conv', 'parity_ulsam', 'parity_swahr', 'training', 'inference',
                'predict'):
        assert 'error' not in res[key], (key, res[key].get('traceback'))
    dc = res['parity_deform_conv']
    assert dc['kernel'] == 'mmcv CPU'
    for k in ('forward', 'grad_input', 'grad_weight', 'grad_offset'):
        assert dc[k] < 1e-4, (k, dc[k])  # fp32 rounding only: same bilinear rule
    # bf16 keeps 8 bits of mantissa: a relative error near 2**-8 at most
    assert res['parity_ulsam']['finite'] and res['parity_ulsam']['rel_err'] < 2e-2
    assert res['parity_swahr']['finite'] and res['parity_swahr']['rel_err'] < 2e-2
    rows = res['training']['rows']
    assert [(r['model'], r['amp']) for r in rows] == [
        (m, amp) for m in ('quick_td', 'quick_bu') for amp in (False, True) for _ in range(2)]
    for r in rows:
        assert 'error' not in r, r
        assert r['losses_finite'] and math.isfinite(r['iters_per_s']) and r['iters_per_s'] > 0
    inf = res['inference']['rows']
    assert [(r['pair'], r['batch']) for r in inf] == [
        ('quick-td', 1), ('quick-td', 2), ('quick-bu', 1), ('quick-bu', 2)]
    for r in inf:
        assert r['ours_ms'] > 0 and r['anchor_ms'] > 0 and math.isfinite(r['ratio'])
    assert res['predict']['batch'] == 2 and res['predict']['speedup'] > 0
    assert res['dist_train'] == dict(skipped='NCCL needs CUDA', seconds=res['dist_train']['seconds'])
    assert res['paper_latency_ms']['SAMKR-W48'] == 164.4
    assert 'ULSAM bfloat16 vs fp32' in p.stdout and 'dist_train: skipped' in p.stdout
