"""tools/analysis_tools/gpu_check.py: its CPU quick mode runs every section and reports sane
values; a hung launch is killed with its detached workers."""
import json
import math
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'gpu_check.py')


def test_gpu_check_quick_cpu(tmp_path):
    out, md = tmp_path / 'result.json', tmp_path / 'result.md'
    p = subprocess.run([
        sys.executable, TOOL, '--device', 'cpu', '--quick', '--out',
        str(out), '--markdown',
        str(md)
    ],
                       capture_output=True,
                       text=True,
                       timeout=300,
                       cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert not (tmp_path / 'result.json.tmp').exists()
    for key in ('parity_deform_conv', 'parity_ulsam', 'parity_swahr', 'training', 'inference',
                'predict', 'multiscale'):
        assert 'error' not in res[key], (key, res[key].get('traceback'))
    dc = res['parity_deform_conv']
    assert dc['kernel'] == 'mmcv CPU'
    for k in ('forward', 'grad_input', 'grad_weight', 'grad_offset'):
        assert dc[k] < 1e-4, (k, dc[k])  # fp32 rounding only: same bilinear rule
    # bf16 keeps 8 bits of mantissa: a relative error near 2**-8 at most
    assert res['parity_ulsam']['finite'] and res['parity_ulsam']['rel_err'] < 2e-2
    assert res['parity_ulsam']['unguarded_finite']
    assert res['parity_ulsam']['unguarded_rel_err'] < 2e-2
    assert res['parity_swahr']['finite'] and res['parity_swahr']['rel_err'] < 2e-2
    rows = res['training']['rows']
    assert [(r['model'], r['amp']) for r in rows] == [(m, amp) for m in ('quick_td', 'quick_bu')
                                                      for amp in (False, True) for _ in range(2)]
    assert [(r['pair'], r['role']) for r in rows] == [(f'{m} vs {m}', role)
                                                      for m in ('quick_td', 'quick_bu')
                                                      for _ in range(2)
                                                      for role in ('ours', 'stock')]
    for r in rows:
        assert 'error' not in r, r
        assert r['losses_finite'] and math.isfinite(r['iters_per_s']) and r['iters_per_s'] > 0
    inf = res['inference']['rows']
    assert [(r['pair'], r['batch']) for r in inf] == [('quick-td', 1), ('quick-td', 2),
                                                      ('quick-bu', 1), ('quick-bu', 2)]
    for r in inf:
        assert r['ours_ms'] > 0 and r['anchor_ms'] > 0 and math.isfinite(r['ratio'])
    assert res['predict']['batch'] == 2 and res['predict']['speedup'] > 0
    ms = res['multiscale']
    assert 'error' not in ms, ms.get('traceback')
    # scale 1 is the 256 config's expanded 96x128 image; scale 0.5 is half of it, per side rounded
    # to the size factor 32 as BottomupResize pads
    assert ms['aug_scales'] == [0.5] and ms['input'] == [256, 352]
    assert ms['scale_inputs'] == [[256, 352], [128, 192]]
    assert ms['single_s'] > 0 and ms['multi_s'] > 0
    assert res['dist_train'] == dict(
        skipped='NCCL needs CUDA', seconds=res['dist_train']['seconds'])
    assert res['paper_latency_ms']['SAMKR-W48'] == 164.4
    assert re.search(r'ULSAM \(fp32 inside autocast\) +bfloat16 +\d\.\d\de-\d\d', p.stdout)
    assert 'dist_train: skipped' in p.stdout

    # Markdown: one pipe-table row per parity value, training pair x precision, latency row
    text = md.read_text()
    lines = text.splitlines()
    assert lines[0].startswith(res['date']) and res['date'].count('-') == 2
    rows_md = [
        ln for ln in lines if ln.startswith('| ') and not ln.startswith('| parity')
        and not ln.startswith('| training') and not ln.startswith('| forward')
    ]
    assert len(rows_md) == 7 + 4 + 4
    assert 'multi-scale test, scales [1.0, 0.5] (inputs 256x352, 128x192)' in text
    fp32_td = next(ln for ln in lines if ln.startswith('| quick_td vs quick_td | fp32 |'))
    ours, stock = rows[0]['iters_per_s'], rows[1]['iters_per_s']
    assert f'| {ours:.2f} | {stock:.2f} | {ours / stock:.3f} |' in fp32_td

    # rendering a stored result runs nothing and prints the same table
    q = subprocess.run(
        [sys.executable, TOOL, '--from-json',
         str(out), '--out',
         str(tmp_path / 'unused.json')],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO)
    assert q.returncode == 0, q.stderr[-3000:]
    table = p.stdout[p.stdout.index(res['date'] + ' device'):]
    assert q.stdout == table
    assert not (tmp_path / 'unused.json').exists()

    # a result with a failed row, a failed section and one cut off by the time limit still renders
    from gpu_check import format_table
    broken = json.loads(out.read_text())
    first = broken['training']['rows'][0]
    broken['training']['rows'][0] = dict(
        model=first['model'],
        amp=False,
        role='ours',
        pair=first['pair'],
        error='OutOfMemoryError: CUDA')
    broken['inference'] = dict(error='RuntimeError: boom', traceback='...')
    del broken['predict'], broken['multiscale'], broken['dist_train']
    for md_mode in (False, True):
        text = format_table(broken, markdown=md_mode)
        assert 'training quick_td amp=False: ERROR OutOfMemoryError: CUDA' in text
        assert 'inference: ERROR RuntimeError: boom' in text
        assert 'predict: not run' in text and 'dist_train: not run' in text
        fp32_td = next(ln for ln in text.splitlines()
                       if 'quick_td vs quick_td' in ln and 'fp32' in ln)
        assert 'ERROR' in fp32_td  # ours failed: no ratio for that row


def test_hung_launch_is_killed_with_its_detached_workers():
    """A launcher whose worker runs in a session of its own (as torchrun's do): killing by the
    environment marker takes both, so no worker outlives the check."""
    from gpu_check import _kill_processes_with_env
    marker = f'test-{os.getpid()}'
    launcher = subprocess.Popen([
        sys.executable, '-c', 'import subprocess, sys, time; '
        'w = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], '
        'start_new_session=True); print(w.pid, flush=True); time.sleep(120)'
    ],
                                stdout=subprocess.PIPE,
                                text=True,
                                env=dict(os.environ, GPU_CHECK_TEST_RUN=marker))
    worker = int(launcher.stdout.readline())
    assert os.getsid(worker) != os.getsid(launcher.pid)
    _kill_processes_with_env('GPU_CHECK_TEST_RUN', marker)
    assert launcher.wait(timeout=10) == -signal.SIGKILL
    deadline = time.time() + 10
    while osp.exists(f'/proc/{worker}') and time.time() < deadline:
        with open(f'/proc/{worker}/stat') as f:
            if f.read().split(') ')[1].startswith('Z'):  # killed, waiting for init to reap it
                break
        time.sleep(0.1)
    else:
        assert not osp.exists(f'/proc/{worker}'), 'the detached worker survived'
