"""tools/analysis_tools (model table, metafiles, benchmark) and tools/deployment/export_onnx.py.

The tools' modules import by name through pytest.ini's ``pythonpath``."""
import importlib.util
from pathlib import Path

import pytest
import torch
import yaml

import benchmark as bm

ROOT = Path(__file__).resolve().parents[2]
ESAM = ROOT / 'configs/esam/coco'
SAMKR = ROOT / 'configs/samkr/coco'
R50 = str(ESAM / 'td-hm_esam-res50_8xb64-270e_coco-256x192.py')
R101 = str(ESAM / 'td-hm_esam-res101_8xb64-270e_coco-256x192.py')
W32 = str(SAMKR / 'samkr_hrnet-w32_8xb10-140e_coco-512x512.py')
W48 = str(SAMKR / 'samkr_hrnet-w48_8xb10-140e_coco-640x640.py')


def _tool(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def model_table():
    torch.set_num_threads(2)
    import model_table
    return model_table


def _paper(name):
    """The metafile entry of a config (read independently of the library, with plain yaml)."""
    for rel in yaml.safe_load((ROOT / 'model-index.yml').read_text())['Import'] + \
            ['configs/esam/baselines.yml']:
        for m in yaml.safe_load((ROOT / rel).read_text())['Models']:
            if m['Name'] == name:
                return m
    raise KeyError(name)


@pytest.mark.parametrize('config', [R50, R101, W32, W48])
def test_params_reproduce_paper(model_table, config):
    paper = _paper(Path(config).stem)['Metadata']['Parameters'] / 1e6
    row = model_table.analyse(config, flops=False)
    assert row['paper']['params_m'] == paper
    assert abs(row['params_m'] / paper - 1) < model_table.PARAMS_RTOL, row['params_m']
    assert row['params_ratio'] == pytest.approx(row['params_m'] / paper)


def test_flops_and_structure(model_table):
    # small inputs keep the trace quick; FLOPs of these conv nets scale with the pixel count
    esam = model_table.analyse(R50, shape=(32, 32))
    samkr = model_table.analyse(W32, shape=(32, 32))
    assert esam['gflops'] > 0 and samkr['gflops'] > 0
    assert esam['input'] == (32, 32)
    assert 'SAM serial3x3' in esam['structure'] and 'CAM r=16' in esam['structure']
    assert 'm=272 c=16 g=8 s=2' in samkr['structure']
    # the deformable convs are counted (handle registered): without it SAMKR's head would only
    # count its plain convs; 2 blocks x 272 x 16 x 9 MACs per output pixel (16x16 maps here)
    assert not any('DeformConv' in op for op in samkr['uncounted'])
    assert samkr['gflops'] * 1e9 > 2 * 272 * 16 * 9 * 8 * 8
    full = model_table.analyse(R50, shape=(64, 64))
    assert full['gflops'] == pytest.approx(4 * esam['gflops'], rel=0.02)


def test_markdown_and_ablation_structures(model_table, tmp_path):
    ablation = ROOT / 'configs/samkr/ablation/samkr-t1-g1-c16_hrnet-w32_8xb10-140e_coco-512x512.py'
    rows = [model_table.analyse(c, flops=False) for c in (R50, str(ablation))]
    assert 'c=16 g=1 s=16' in rows[1]['structure']
    # Table 1 row 2's AP (64) and table name come from the metafile
    assert rows[1]['paper']['ap'] == 64.0 and 'Table 1 row 2' in rows[1]['paper']['table']
    text = model_table.format_table(rows, markdown=True)
    lines = text.splitlines()
    assert lines[0].startswith('| config | input | Params (M) | paper | ratio |')
    assert set(lines[1]) <= set('|-:')
    assert lines[2].startswith('| `td-hm_esam-res50_8xb64-270e_coco-256x192` | 256x192 | 30.70 | '
                               '30.7 | 1.000 |')
    assert '| — | — |' in lines[3]  # the paper gives no params for an ablation row
    assert lines[3].endswith('| 64.0 | SAMKR Table 1 row 2 (m 272, c 16, g 1, s 16) |')
    assert 'Not counted' in text
    out = tmp_path / 'model_table.md'
    model_table.main([R50, '--no-flops', '--markdown', '--out', str(out)])
    assert '| `td-hm_esam-res50_8xb64-270e_coco-256x192` |' in out.read_text()


def test_benchmark_tiny(capsys):
    out = bm.main([
        '--pairs', 'esam-r50', '--td-batches', '1', '--td-shape', '64', '48', '--repeats', '2',
        '--warmup', '0', '--predict-batch', '0', '--threads', '2'
    ])
    (r, ) = out['forward']
    assert r['ours_label'] == 'ESAM-R50' and r['anchor_label'] == 'SimpleBaseline-R50'
    assert r['ratio_median'] == pytest.approx(r['ours'][0] / r['anchor'][0])
    assert r['ours'][1] <= r['ours'][0] <= r['ours'][2]
    printed = capsys.readouterr().out
    assert 'ratio(median)' in printed and 'noise(max/min)' in printed
    s = bm.summarise([2.0, 4.0], [1.0, 1.0])
    assert s['ratio_median'] == 3.0 and s['paired'] == (3.0, 2.0, 4.0) and s['noise'][0] == 2.0


def test_benchmark_predict_tiny():
    r = bm.bench_predict(batch=2, repeats=1, warmup=0, device='cpu', shape=(32, 32))
    assert r['batch'] == 2 and r['speedup'] > 0
    assert r['net']['batched'] > 0 and r['decode']['batched'] >= 0
    assert r['net']['batched'] + r['decode']['batched'] <= r['batched'][0] + 1e-6


def test_benchmark_multiscale_cli(capsys):
    out = bm.main([
        '--pairs', 'none', '--predict-batch', '0', '--multiscale', '0.5', '--predict-repeats', '1',
        '--warmup', '0'
    ])
    r = out['multiscale']
    # SAMKR-W32's 512 input expanded to the 480x640 image's aspect, and its half (size factor 32)
    assert r['input'] == (512, 704) and r['scale_inputs'] == [(512, 704), (256, 352)]
    assert r['ratio'] == pytest.approx(r['multi'][0] / r['single'][0])
    assert 'scales [1.0, 0.5] (inputs 512x704, 256x352)' in capsys.readouterr().out
    with pytest.raises(ValueError, match='no MultiScaleBottomupResize'):
        bm.bench_multiscale([0.5], 1, 0, 'cpu', config=bm.MMPOSE_DEKR)


@pytest.mark.parametrize('config', [R50, R101])
def test_onnx_export_parity(config, tmp_path):
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    tool = _tool('tools/deployment/export_onnx.py')
    out = tmp_path / 'model.onnx'
    # exported at batch 1, checked at batch 2: the batch axis is dynamic
    with pytest.warns(UserWarning, match='RANDOM WEIGHTS: no --checkpoint was given'):
        res = tool.main([config, '--out', str(out), '--check-batch', '2', '--repeats', '1'])
    assert out.is_file() and res['ok']
    hm = res['outputs']['heatmaps']
    # top-down files take crops of the codec input size (256x192): heatmaps at stride 4
    assert hm['shape'] == (2, 17, 64, 48)
    assert hm['max_abs_diff'] < 1e-4
    assert res['ort_ms'] > 0 and res['torch_ms'] > 0


def test_onnx_export_checkpoint_none_bottomup(tmp_path):
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    tool = _tool('tools/deployment/export_onnx.py')
    out = tmp_path / 'samkr.onnx'
    config = str(ROOT / 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py')
    with pytest.warns(UserWarning, match='--checkpoint none: the model has random weights'):
        res = tool.main([
            config, '--checkpoint', 'none', '--out',
            str(out), '--shape', '64', '64', '--repeats', '1', '--threads', '1'
        ])
    assert out.is_file() and res['ok']
    assert res['outputs']['heatmaps']['shape'] == (2, 18, 16, 16)
    assert res['outputs']['displacements']['shape'] == (2, 34, 16, 16)
