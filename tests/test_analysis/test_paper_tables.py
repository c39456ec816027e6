"""tools/analysis_tools/paper_tables.py: the papers' tables filled from real `tools/test.py` runs.

The runs are SAMKR ablation configs with random weights (saved here) on the 4 real COCO samples,
at a 128x128 input without flip test to keep them short: this checks that the right rows get the
runs' logged AP, not accuracy (random weights score 0 AP).
"""
import csv
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import paper_tables as pt

ROOT = Path(__file__).resolve().parents[2]
ABLATION = ROOT / 'configs/samkr/ablation'
G1 = 'samkr-t1-g1-c16_hrnet-w32_8xb10-140e_coco-512x512'  # SAMKR Table 1 row 2
G2 = 'samkr-t2-g2-c16_hrnet-w32_8xb10-140e_coco-512x512'  # SAMKR Table 2 row 2_SAMKR_16
FAST = [
    'model.test_cfg.flip_test=False', 'test_dataloader.dataset.pipeline.1.input_size=(128,128)',
    'model.head.decoder.input_size=(128,128)', 'model.head.decoder.heatmap_size=(32,32)'
]


def _random_checkpoint(config: Path, path: Path, seed: int) -> Path:
    from mmengine.config import Config
    from mmpose.apis import init_model
    torch.manual_seed(seed)
    model = init_model(Config.fromfile(str(config)), device='cpu')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def _test_run(name: str, ckpt: Path, work_dir: Path, coco: Path) -> float:
    """`tools/test.py` of an ablation config on the real samples; the AP it logged."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(ROOT), env.get('PYTHONPATH')]))
    data = [
        f'test_dataloader.dataset.data_root={coco}/',
        'test_dataloader.dataset.ann_file=annotations/test_coco.json',
        'test_dataloader.dataset.data_prefix.img=images/',
        f'test_evaluator.ann_file={coco}/annotations/test_coco.json'
    ]
    proc = subprocess.run([
        sys.executable, 'tools/test.py',
        str(ABLATION / f'{name}.py'),
        str(ckpt), '--work-dir',
        str(work_dir), '--cfg-options', *data, *FAST
    ],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    logged = re.findall(r'coco/AP: (\d+\.\d+)', out)
    assert logged, out[-3000:]
    return float(logged[-1])


@pytest.fixture(scope='module')
def runs(tmp_path_factory, shared_data):
    """Real test runs of G1 and G2 (random weights, seed 0): {key: (work dir, logged AP)}."""
    root = tmp_path_factory.mktemp('paper_tables')
    out = {}
    for key, name in (('g1', G1), ('g2', G2)):
        ckpt = _random_checkpoint(ABLATION / f'{name}.py', root / f'{key}.pth', 0)
        work = root / 'work_dirs' / key
        out[key] = (work, _test_run(name, ckpt, work, shared_data / 'coco'))
    return out


@pytest.fixture(scope='module')
def second_g2_run(tmp_path_factory, shared_data):
    """G2 tested again with other random weights (seed 1), in a work dir of its own."""
    root = tmp_path_factory.mktemp('paper_tables_g2_seed1')
    ckpt = _random_checkpoint(ABLATION / f'{G2}.py', root / 'g2_seed1.pth', 1)
    work = root / 'work_dirs' / 'g2_seed1'
    return work, _test_run(G2, ckpt, work, shared_data / 'coco')


def _tool():
    """tools/analysis_tools/paper_tables.py (its main() is the command line)."""
    return pt


def _csv(text: str):
    return list(csv.DictReader(io.StringIO(text)))


def _rows_table(markdown: str, paper: str, table: int):
    """{row name: cells} of one markdown table."""
    block = markdown.split(f'### {paper} Table {table} ')[1].split('\n\n', 2)[1]
    lines = block.splitlines()
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    return {
        cells[0]: dict(zip(header, cells))
        for cells in ([c.strip() for c in line.strip('|').split('|')] for line in lines[2:])
    }


def test_two_test_runs_fill_exactly_their_rows(runs, tmp_path):
    (g1_work, g1_ap), (g2_work, g2_ap) = runs['g1'], runs['g2']
    text = _tool().main(
        [str(g1_work),
         str(g2_work), '--format', 'csv', '--out',
         str(tmp_path / 't.csv')])
    assert (tmp_path / 't.csv').read_text() == text
    lines = _csv(text)
    paper = {
        (m['Name'], r['Paper Row']): r['Metrics']
        for rel in ('configs/samkr/samkr_ablation_coco.yml', )
        for m in yaml.safe_load((ROOT / rel).read_text())['Models']
        for r in m['Results']
    }
    filled = [line for line in lines if line['n_runs'] != '0']
    # exactly the two rows, each with every metric of the paper's row
    assert {(line['table'], line['row'])
            for line in filled} == {('1', 'm 272, c 16, g 1, s 16'), ('2', '2_SAMKR_16')}
    assert len(filled) == 1 + 3  # Table 1: AP; Table 2: AP, AP (M), AP (L)
    for line in filled:
        model, ap = (G1, g1_ap) if line['table'] == '1' else (G2, g2_ap)
        assert line['model'] == model and line['n_runs'] == '1'
        assert line['evaluated_on'] == 'test_coco.json'
        assert float(line['paper_value']) == pytest.approx(
            100 * paper[(model, line['row'])][line['metric']])
        if line['metric'] == 'AP':
            assert float(line['ours_mean']) == pytest.approx(100 * ap, abs=1e-4)
            assert float(line['diff']) == pytest.approx(
                100 * ap - float(line['paper_value']), abs=1e-4)
        assert line['ours_sd'] == ''
    # every other row of the 7 tables: no run
    assert all(line['ours_mean'] == line['diff'] == '' for line in lines if line not in filled)
    assert {(line['paper'], line['table']) for line in lines} == {(p, str(t)) for p, t in pt.TABLES}

    tables, skipped = pt.collect([str(g1_work), str(g2_work)])
    assert skipped == []
    md = pt.format_markdown(tables)
    table2 = _rows_table(md, 'SAMKR', 2)
    assert table2['2_SAMKR_16']['AP'] == f'64.4 / {100 * g2_ap:.1f} ({100 * g2_ap - 64.4:+.1f})'
    assert table2['2_SAMKR_16']['n'] == '1'
    assert table2['4_SAMKR_16']['AP'] == '64.1 / —'
    assert _rows_table(md, 'SAMKR', 1)['m 272, c 16, g 1, s 16']['AP'].startswith('64.0 / 0.0 (')
    assert _rows_table(md, 'ESAM', 2)['Our + new AM, ResNet101']['AR'] == '78.1 / —'
    filled_cells = [
        c for line in md.splitlines() if line.startswith('| ') for c in line.split('|')
        if re.match(r' \d+\.\d / \d', c)
    ]
    assert len(filled_cells) == 4, filled_cells


def test_two_runs_of_one_row_show_mean_and_spread(runs, second_g2_run):
    (a_work, a_ap), (b_work, b_ap) = runs['g2'], second_g2_run
    tables, skipped = pt.collect([str(a_work), str(b_work)])
    assert skipped == []
    row = next(r for t in tables for r in t['rows'] if r['row'].name == '2_SAMKR_16')
    assert len(row['row'].runs) == 2
    cell = row['cells']['AP']
    assert cell['n'] == 2
    assert cell['mean'] == pytest.approx(100 * statistics.mean([a_ap, b_ap]), abs=1e-6)
    assert cell['sd'] == pytest.approx(100 * statistics.stdev([a_ap, b_ap]), abs=1e-6)
    md = pt.format_markdown(tables)
    assert _rows_table(md, 'SAMKR', 2)['2_SAMKR_16']['AP'] == (
        f'64.4 / {cell["mean"]:.1f} ± {cell["sd"]:.1f} ({cell["mean"] - 64.4:+.1f})')
    assert _rows_table(md, 'SAMKR', 2)['2_SAMKR_16']['n'] == '2'


def test_mean_spread():
    # random weights give every run 0 AP, so the runs above check the plumbing; the arithmetic:
    assert pt.mean_spread([64.1, 64.7]) == (pytest.approx(64.4), pytest.approx(0.3 * 2**0.5))
    assert pt.mean_spread([70.0]) == (70.0, None)
    cell = dict(paper=64.4, mean=64.4, sd=0.42426, n=2, diff=0.0)
    assert pt._cell(cell) == '64.4 / 64.4 ± 0.4 (+0.0)'
    assert pt._cell(dict(paper=64.4, mean=None, sd=None, n=0, diff=None)) == '64.4 / —'


def test_runs_matched_by_network_and_left_out_with_reasons(runs, tmp_path):
    """A renamed config is matched by its network, a run without LocalVisBackend by the work
    dir's config; a changed network, an unfinished run, a damaged metrics file, a config that does
    not load and an older run of the same work dir are left out, each with its reason (copies of
    a real run)."""
    src = runs['g2'][0]
    run_dir = next(p for p in src.iterdir() if pt.TIMESTAMP.match(p.name))

    renamed = tmp_path / 'renamed'
    shutil.copytree(run_dir, renamed / run_dir.name)
    shutil.copy(src / f'{G2}.py', renamed / 'my_experiment.py')

    changed = tmp_path / 'changed'
    shutil.copytree(src, changed)
    for path in (changed / f'{G2}.py', changed / run_dir.name / 'vis_data' / 'config.py'):
        text = path.read_text()
        assert text.count('num_subspaces=2') == 1
        path.write_text(text.replace('num_subspaces=2', 'num_subspaces=4'))

    unfinished = tmp_path / 'unfinished'
    shutil.copytree(src, unfinished)
    (unfinished / run_dir.name / f'{run_dir.name}.json').unlink()

    twice = tmp_path / 'twice'
    shutil.copytree(src, twice)
    later = '99991231_235959'
    shutil.copytree(run_dir, twice / later)
    (twice / later / f'{run_dir.name}.json').rename(twice / later / f'{later}.json')

    broken = tmp_path / 'broken'
    shutil.copytree(src, broken)
    with open(broken / run_dir.name / 'vis_data' / 'config.py', 'a') as f:
        f.write("custom_imports = dict(imports=['a_plugin_not_installed'])\n")

    damaged = tmp_path / 'damaged'  # e.g. the disk filled up while it was written
    shutil.copytree(src, damaged)
    metrics = damaged / run_dir.name / f'{run_dir.name}.json'
    metrics.write_text(metrics.read_text()[:40])

    no_vis = tmp_path / 'no_vis_backend'  # a test run without LocalVisBackend
    shutil.copytree(src, no_vis)
    (no_vis / run_dir.name / 'vis_data' / 'config.py').unlink()

    tables, skipped = pt.collect([str(tmp_path)])
    reasons = {Path(p).parent.name: why for p, why in skipped}
    assert set(reasons) == {'changed', 'unfinished', 'twice', 'broken', 'damaged'}
    assert reasons['damaged'].startswith(f'{metrics}: not JSON')
    assert 'does not load' in reasons['broken'] and 'a_plugin_not_installed' in reasons['broken']
    assert 'network other than' in reasons['changed'] and G2 in reasons['changed']
    assert 'no evaluation recorded' in reasons['unfinished']
    assert f'superseded by {later}' in reasons['twice']
    row = next(r for t in tables for r in t['rows'] if r['row'].name == '2_SAMKR_16')
    assert sorted((Path(r.work_dir).name, r.matched_by)
                  for r in row['row'].runs) == [('no_vis_backend', 'name'), ('renamed', 'model'),
                                                ('twice', 'name')]
    assert all(not r['row'].runs for t in tables for r in t['rows'] if r is not row)
    md = pt.format_markdown(tables, skipped)
    assert f'| `{G2}` (network of `my_experiment.py`) | test_coco.json | 128x128 |' in md
    assert f'- {changed / run_dir.name}: config {G2}.py has a network other than' in md


def test_bad_input(tmp_path):
    tool = _tool()
    out = tmp_path / 'tables.md'
    with pytest.raises(SystemExit, match='is not a folder'):
        tool.main([str(tmp_path / 'missing'), '--out', str(out)])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SystemExit, match='no run folders'):
        tool.main([str(tmp_path / 'empty'), '--out', str(out)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['empty']  # nothing written


def test_metafile_rows(tmp_path):
    rows = pt.load_rows()
    names = {}
    for r in rows:
        names.setdefault((r.paper, r.table), []).append(r.name)
    assert names[('SAMKR', 2)] == [
        '2_SAMKR_16', '4_SAMKR_16', '8_SAMKR_16', '8_SAMKR_8', '8_SAMKR_24', '4_SAMKR_8',
        '12_SAMKR_24'
    ]
    assert [r.model for r in rows if (r.paper, r.table) == ('SAMKR', 1)][-1] == \
        'samkr_hrnet-w32_8xb10-140e_coco-512x512'
    assert set(names) == set(pt.TABLES)
    # every row's config loads, and no two paper configs share a network, so a run under another
    # file name is matched to one row
    identities = pt._Identities(rows, str(ROOT))
    networks = {m: identities.get(m) for m in identities.configs}
    assert len(networks) == 24  # 4 ESAM + 3 SimpleBaseline + 13 SAMKR + 4 DEKR
    assert all(identities.find(n) == [m] for m, n in networks.items())
    # a result of a printed table without its row name is refused, naming the entry and field
    imported = yaml.safe_load((ROOT / 'model-index.yml').read_text())['Import']
    for rel in ['model-index.yml'] + imported:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    ablation = tmp_path / 'configs/samkr/samkr_ablation_coco.yml'
    ablation.write_text(ablation.read_text().replace('    Paper Row: 4_SAMKR_8\n', '', 1))
    with pytest.raises(ValueError, match=r"samkr-t2-g4-c8.*needs \"Paper Row\""):
        pt.load_rows(str(tmp_path))


def test_training_run_gives_its_last_validation():
    """A real tiny training (tests/_tiny_train.py, validated after its 3rd epoch): its metrics are
    the last validation in vis_data/scalars.json; its config is no paper row, so it is left out."""
    from _tiny_train import reference_run
    work_dir = reference_run()
    run_dir = next(p for p in work_dir.iterdir() if pt.TIMESTAMP.match(p.name))
    run, why = pt.read_run(str(run_dir))
    assert why == '' and run.kind == 'val' and run.step == 3
    log = (run_dir / f'{run_dir.name}.log').read_text()
    logged = re.findall(r'Epoch\(val\) \[3\]\[\d+/\d+\]\s+coco/AP: (\d+\.\d+)', log)
    assert logged and run.metrics['AP'] == pytest.approx(float(logged[-1]), abs=1e-6)
    assert run.data == 'val.json' and run.input_size == '64x48'
    tables, skipped = pt.collect([str(work_dir)])
    assert skipped == [(str(run_dir), 'its network (td-hm_res18-tiny_1xb4-3e_synthetic-64x48.py) '
                        'matches no paper configs')]
    assert all(not r['row'].runs for t in tables for r in t['rows'])


def test_coco_minus_one_is_no_value():
    """COCO logs -1 for a size range without ground truth (no medium person in the images): the
    cell shows no value and no difference, not -100.0 and a difference of -156.8."""
    row = next(r for r in pt.load_rows() if 'AP (M)' in r.metrics and 'AP (L)' in r.metrics)
    run = pt.Run(
        work_dir='work',
        timestamp='20260101_000000',
        kind='test',
        metrics={
            'AP': 0.5,
            'AP (M)': -1.0,
            'AP (L)': 0.625
        },
        config_file='x.py',
        model=row.model,
        matched_by='name')
    tables = pt.build_tables([row], [run])
    cells = next(e['cells'] for t in tables for e in t['rows'] if e['row'] is row)
    assert cells['AP (M)'] == dict(
        paper=100 * row.metrics['AP (M)'], mean=None, sd=None, n=0, diff=None)
    assert cells['AP (L)']['mean'] == 62.5
    md = pt.format_markdown(tables)
    assert f'| {100 * row.metrics["AP (M)"]:.1f} / {pt.NONE} |' in md
    assert '-100.0' not in md and 'logged -1' in md and 'AP (M) (work/20260101_000000)' in md
    line = next(
        r for r in _csv(pt.format_csv(tables))
        if r['metric'] == 'AP (M)' and r['model'] == row.model)
    assert (line['ours_mean'], line['diff'], line['n_runs']) == ('', '', '0')


def test_out_into_a_missing_folder(tmp_path):
    """--out creates its folder; a file in the way is a clear message, nothing written."""
    run = tmp_path / 'work' / '20260101_000000'
    run.mkdir(parents=True)
    (run / '20260101_000000.json').write_text('{"coco/AP": 0.5}')  # no config: left out
    out = tmp_path / 'new' / 'dir' / 'tables.md'
    text = _tool().main([str(tmp_path / 'work'), '--out', str(out)])
    assert out.read_text() == text and '### SAMKR Table 5' in text
    (tmp_path / 'blocker').write_text('')
    with pytest.raises(SystemExit, match=r"cannot create the folder of --out .*blocker/t\.md"):
        _tool().main([str(tmp_path / 'work'), '--out', str(tmp_path / 'blocker' / 't.md')])
