"""benchmark.py --pairs: the SAMKR predict timing runs only when a bottom-up pair is selected."""
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / 'tools' / 'analysis_tools' / 'benchmark.py'
TINY_TD = [
    '--td-batches', '1', '--td-shape', '32', '24', '--repeats', '1', '--warmup', '0', '--threads',
    '1'
]


def _bench(*args):
    proc = subprocess.run([sys.executable, str(BENCH), *args],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_topdown_pair_skips_samkr_predict():
    out = _bench('--pairs', 'esam-r50', *TINY_TD)
    assert 'ESAM-R50' in out and 'SimpleBaseline-R50' in out
    assert 'SAMKR-W32 predict' not in out


QUICK_TD = 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py'


def _quick_pair():
    from benchmark import Pair
    return Pair(QUICK_TD, str(REPO_ROOT / QUICK_TD), 'quick-td', 'quick-td-b', True)


def test_backends_interleaved_with_speedups(tmp_path, capsys):
    import pytest

    import benchmark as bm
    backends = ['pytorch-bf16', 'onnxruntime']
    try:
        import openvino  # noqa: F401
        backends.append('openvino')
    except ImportError:
        pass
    rows = bm.bench_backends(
        'quick',
        backends,
        [2],
        repeats=2,
        warmup=1,
        shape=(128, 96),  # the codec input size: top-down files take crops of it
        threads=1,
        pair=_quick_pair(),
        work_dir=str(tmp_path))
    # both models, PyTorch fp32 first, every backend once each
    for model in ('quick-td', 'quick-td-b'):
        got = [r for r in rows if r['model'] == model]
        assert [r['backend'] for r in got] == ['pytorch'] + backends
        for r in got:
            assert 'error' not in r, r
            assert r['min'] <= r['median'] <= r['max'] and r['batch'] == 2
        assert got[0]['speedup'] == pytest.approx(1.0)
        assert got[1]['speedup'] == pytest.approx(got[0]['median'] / got[1]['median'])
    assert 'onnxruntime' in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # the exported files are removed


def test_backend_that_fails_is_reported_not_fatal():
    import benchmark as bm

    def broken():
        raise RuntimeError('"deformable_im2col_cpu" not implemented for \'BFloat16\'')

    times, errors = bm._interleave_available({
        'pytorch': lambda: None,
        'pytorch-bf16': broken
    },
                                             repeats=2,
                                             warmup=1)
    assert list(times) == ['pytorch'] and len(times['pytorch']) == 2
    rows = bm._rows('DEKR', times, errors, 1.0, dict(batch=1, input=(8, 8)))
    assert rows[1]['backend'] == 'pytorch-bf16' and 'BFloat16' in rows[1]['error']
    assert 'fails: RuntimeError' in bm.format_backend_row(rows[1])


def test_e2e_topdown_crops_per_second(shared_data, tmp_path):
    import benchmark as bm
    root = shared_data / 'coco'
    rows = bm.bench_e2e_topdown(
        QUICK_TD,
        str(REPO_ROOT / QUICK_TD),
        str(root / 'images'),
        str(root / 'detections/test_coco_det_AP_H_56.json'), ['onnxruntime'],
        batch=8,
        repeats=1,
        warmup=1,
        threads=1,
        bbox_thr=0.5,
        work_dir=str(tmp_path))
    assert [r['backend'] for r in rows] == ['pytorch', 'onnxruntime', 'anchor']
    crops = rows[0]['items']
    import json
    dets = json.loads((root / 'detections/test_coco_det_AP_H_56.json').read_text())
    assert crops == sum(d['score'] > 0.5 and d['category_id'] == 1 for d in dets) > 8
    assert rows[1]['speedup_vs_anchor'] > 0 and 'crops/s' in bm.format_backend_row(rows[1])
