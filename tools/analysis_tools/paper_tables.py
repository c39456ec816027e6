"""The papers' tables (ESAM Tables 1-2, SAMKR Tables 1-5) with your runs' numbers beside them.

Rows and the papers' numbers come from the metafiles (each result's ``Paper Table``,
``Paper Row`` and ``Paper Row Number``); runs are the ``<timestamp>/`` folders that mmengine's
runner (``mim train``/``mim test``/``tools/train.py``/``tools/test.py``) leaves in a work dir.
Behaviour and an example: docs/figures_and_tables.md.

Usage (from the checkout: the metafiles are read from it)::

    python tools/analysis_tools/paper_tables.py work_dirs/                  # every run under it
    python tools/analysis_tools/paper_tables.py WORK_DIR... --format csv --out tables.csv
"""
import argparse
import csv
import io
import json
import math
import os
import os.path as osp
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from metafile import load_models, metafile_root

#: A run folder: mmengine's ``runner.timestamp``.
TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')
#: ``Paper Table`` of a metafile result: "<paper> Table <n> ...".
PAPER_TABLE = re.compile(r'^(ESAM|SAMKR) Table (\d+)\b')
#: The tables this tool prints, in order.
TABLES = (('ESAM', 1), ('ESAM', 2), ('SAMKR', 1), ('SAMKR', 2), ('SAMKR', 3), ('SAMKR', 4),
          ('SAMKR', 5))
#: Metafile metric names (model-index convention) in the order the papers print them.
METRIC_ORDER = ('AP', 'AP@0.5', 'AP@0.75', 'AP (E)', 'AP (M)', 'AP (H)', 'AP (L)', 'AR', 'AR@0.5',
                'AR@0.75', 'AR (M)', 'AR (L)')
#: Metafile metric name -> the name mmpose's CocoMetric logs (after ``<prefix>/``).
_COCO_NAMES = {
    'AP': 'AP',
    'AP@0.5': 'AP .5',
    'AP@0.75': 'AP .75',
    'AP (M)': 'AP (M)',
    'AP (L)': 'AP (L)',
    'AR': 'AR',
    'AR@0.5': 'AR .5',
    'AR@0.75': 'AR .75',
    'AR (M)': 'AR (M)',
    'AR (L)': 'AR (L)'
}
#: CrowdPose's M is the medium crowd index (mmpose logs it without the space), not medium area.
_CROWDPOSE_NAMES = {
    'AP': 'AP',
    'AP@0.5': 'AP .5',
    'AP@0.75': 'AP .75',
    'AP (E)': 'AP(E)',
    'AP (M)': 'AP(M)',
    'AP (H)': 'AP(H)',
    'AR': 'AR',
    'AR@0.5': 'AR .5',
    'AR@0.75': 'AR .75'
}
#: Model-dict keys that do not change which network a run trained/tested: weights to start
#: from, test-time options, the decoder's (codec's) sizes, registry scopes.
_NOT_IDENTITY = frozenset({'init_cfg', 'pretrained', 'test_cfg', 'decoder', '_scope_'})
NONE = '\u2014'


@dataclass
class PaperRow:
    """One row of a paper's table, as a metafile result names it."""
    paper: str
    table: int
    number: int
    name: str
    model: str  # metafile ``Name`` (= config file name without .py)
    config: str  # metafile ``Config``
    dataset: str
    metrics: Dict[str, float]  # metafile names, fractions
    runs: List['Run'] = field(default_factory=list)


@dataclass
class Run:
    """One evaluated run: a ``<timestamp>/`` folder of a work dir."""
    work_dir: str
    timestamp: str
    kind: str  # 'test', or 'val' (the last validation of a training)
    metrics: Dict[str, float]  # the name mmpose logs (prefix removed) -> value
    config_file: str
    config_name: str = ''  # the dumped config's file name (without .py) where known
    model: str = ''  # metafile Name it matched
    matched_by: str = ''  # 'name' or 'model'
    data: str = ''  # the evaluated annotation file's name
    input_size: str = ''
    step: Optional[int] = None
    network: object = None  # :func:`model_identity` of the dumped config

    @property
    def path(self) -> str:
        return osp.join(self.work_dir, self.timestamp)


def load_rows(root: Optional[str] = None) -> List[PaperRow]:
    """Every (result -> paper row) of the metafiles that belongs to one of :data:`TABLES`.

    Raises:
        ValueError: a result of a table printed here without ``Paper Row``/``Paper Row Number``,
            or two results claiming one row.
    """
    rows, seen = [], {}
    for m in load_models(root):
        for r in m.get('Results') or []:
            match = PAPER_TABLE.match(str(r.get('Paper Table', '')))
            if not match or (match.group(1), int(match.group(2))) not in TABLES:
                continue
            where = f'metafile entry {m["Name"]!r}, result "{r["Paper Table"]}"'
            name, number = r.get('Paper Row'), r.get('Paper Row Number')
            if not name or not isinstance(number, int):
                raise ValueError(f'{where}: needs "Paper Row" (the paper\'s name for the row) and '
                                 '"Paper Row Number" (its 1-based position in the table)')
            key = (match.group(1), int(match.group(2)), number)
            if key in seen:
                raise ValueError(f'{where}: {key[0]} Table {key[1]} row {number} is also claimed '
                                 f'by {seen[key]!r}; fix "Paper Row Number"')
            seen[key] = m['Name']
            rows.append(
                PaperRow(
                    paper=key[0],
                    table=key[1],
                    number=number,
                    name=str(name),
                    model=m['Name'],
                    config=m['Config'],
                    dataset=r['Dataset'],
                    metrics={
                        k: float(v)
                        for k, v in r['Metrics'].items()
                    }))
    return sorted(rows, key=lambda r: (TABLES.index((r.paper, r.table)), r.number))


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------


def _split_metrics(values: dict, source: str) -> Dict[str, float]:
    """``{'coco/AP': x, ...}`` -> ``{'AP': x, ...}``; two evaluators logging one name is an
    error (which one is the paper's would be a guess)."""
    out, prefix_of = {}, {}
    for key, value in values.items():
        if '/' not in key or not isinstance(value, (int, float)):
            continue
        prefix, name = key.rsplit('/', 1)
        if name in out and prefix_of[name] != prefix:
            raise ValueError(f'{source}: both "{prefix_of[name]}/{name}" and "{key}" are logged; '
                             'evaluate one metric per run to compare with the papers')
        out[name], prefix_of[name] = float(value), prefix
    return out


def _read_json_lines(path: str) -> List[dict]:
    records = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f'{path}: line {i} is not JSON ({e}); the file is damaged, '
                                     'remove it or the run folder') from e
    return records


def _run_metrics(run_dir: str) -> Tuple[str, Dict[str, float], Optional[int]]:
    """(kind, metrics, step) of a run folder; kind '' when it recorded no evaluation."""
    ts = osp.basename(run_dir)
    test_json = osp.join(run_dir, f'{ts}.json')  # LoggerHook.after_test_epoch: one object
    if osp.isfile(test_json):
        with open(test_json) as f:
            try:
                values = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f'{test_json}: not JSON ({e}); the file is damaged, remove '
                                 'it or the run folder') from e
        return 'test', _split_metrics(values, test_json), None
    scalars = osp.join(run_dir, 'vis_data', 'scalars.json')  # training: json lines, val too
    if osp.isfile(scalars):
        evaluated = [
            r for r in _read_json_lines(scalars)
            if any('/' in k and k.rsplit('/', 1)[1] == 'AP' for k in r)
        ]
        if evaluated:
            last = evaluated[-1]
            return 'val', _split_metrics(last, scalars), last.get('step')
    return '', {}, None


def _input_size(cfg) -> str:
    """H x W the network saw: the head's decoder (what --cfg-options overrides), else codec."""
    size = None
    decoder = cfg.get('model', {}).get('head', {}).get('decoder')
    if isinstance(decoder, dict):
        size = decoder.get('input_size')
    if size is None and isinstance(cfg.get('codec'), dict):
        size = cfg.codec.get('input_size')
    return f'{size[1]}x{size[0]}' if size else ''


def _eval_data(cfg) -> str:
    """File name of the annotation file the run evaluated."""
    evaluator = cfg.get('test_evaluator') or cfg.get('val_evaluator') or {}
    if isinstance(evaluator, (list, tuple)):
        evaluator = evaluator[0] if evaluator else {}
    ann = evaluator.get('ann_file')
    if not ann:
        loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
        ann = loader.get('dataset', {}).get('ann_file')
    return osp.basename(ann) if ann else ''


def find_run_dirs(path: str) -> List[str]:
    """``<timestamp>/`` run folders at or under ``path`` (sorted)."""
    if not osp.isdir(path):
        raise FileNotFoundError(f'WORK_DIR {path!r} is not a folder; give the --work-dir of '
                                'mim train/mim test/tools/test.py (or a folder holding several)')
    if TIMESTAMP.match(osp.basename(osp.normpath(path))):
        return [osp.normpath(path)]
    found = []
    for dirpath, dirnames, _ in os.walk(path):
        runs = [d for d in dirnames if TIMESTAMP.match(d)]
        found += [osp.join(dirpath, d) for d in runs]
        dirnames[:] = sorted(d for d in dirnames if not TIMESTAMP.match(d))
    return sorted(found)


def read_run(run_dir: str) -> Tuple[Optional[Run], str]:
    """The evaluated run of a ``<timestamp>/`` folder, or (None, why it is not one)."""
    from mmengine.config import Config
    work_dir, ts = osp.split(osp.normpath(run_dir))
    try:
        kind, metrics, step = _run_metrics(run_dir)
    except ValueError as e:  # a damaged file of one run leaves the other runs' tables intact
        return None, str(e)
    if not kind:
        return None, 'no evaluation recorded (unfinished, or trained with --no-validate)'
    if 'AP' not in metrics:
        return None, 'its metrics have no AP'
    config_file = osp.join(run_dir, 'vis_data', 'config.py')  # LocalVisBackend's copy
    if not osp.isfile(config_file):
        # without LocalVisBackend only the runner's dump at the top level is left, which is
        # this run's only when the work dir holds one config
        tops = [
            e for e in os.listdir(work_dir)
            if e.endswith('.py') and osp.isfile(osp.join(work_dir, e))
        ]
        if len(tops) != 1:
            return None, (f'no {config_file}, and {len(tops)} configs at the top of the work '
                          'dir to choose from')
        config_file = osp.join(work_dir, tops[0])
    try:
        cfg = Config.fromfile(config_file)
    except Exception as e:  # e.g. custom_imports of a package not installed here
        return None, f'its dumped config {config_file} does not load ({type(e).__name__}: {e})'
    # the same dump at the work dir's top level keeps the config's file name
    with open(config_file, 'rb') as f:
        text = f.read()
    name = ''
    for entry in sorted(os.listdir(work_dir)):
        top = osp.join(work_dir, entry)
        if entry.endswith('.py') and osp.isfile(top):
            with open(top, 'rb') as f:
                if f.read() == text:
                    name = entry[:-3]
                    break
    return Run(
        work_dir=work_dir,
        timestamp=ts,
        kind=kind,
        metrics=metrics,
        config_file=config_file,
        config_name=name,
        data=_eval_data(cfg),
        input_size=_input_size(cfg),
        step=step,
        network=model_identity(cfg.model.to_dict())), ''


def model_identity(model_cfg) -> object:
    """What identifies the network of a config's ``model`` dict (see :data:`_NOT_IDENTITY`),
    as plain nested dicts/lists."""
    if isinstance(model_cfg, dict):
        return {k: model_identity(v) for k, v in model_cfg.items() if k not in _NOT_IDENTITY}
    if isinstance(model_cfg, (list, tuple)):
        return [model_identity(v) for v in model_cfg]
    return model_cfg


class _Identities:
    """Model identities of the metafiles' configs, loaded on first use."""

    def __init__(self, rows: Sequence[PaperRow], root: str):
        self.configs = {r.model: r.config for r in rows}
        self.root = root
        self._cache: Dict[str, object] = {}

    def get(self, model: str) -> object:
        if model not in self._cache:
            from mmpose_attn.utils import load_config
            path = self.configs[model]
            if '::' not in path:
                path = osp.join(self.root, path)
            self._cache[model] = model_identity(load_config(path).model.to_dict())
        return self._cache[model]

    def find(self, identity: object) -> List[str]:
        return [m for m in self.configs if self.get(m) == identity]


def match_runs(runs: Iterable[Run],
               rows: Sequence[PaperRow],
               root: Optional[str] = None) -> Tuple[List[Run], List[Tuple[str, str]]]:
    """Give each run the metafile model it ran; keep one run per (work dir, model).

    A run matches by its config's file name when that is a metafile entry (its network must then
    be that config's), else by its network alone. Per work dir and model the latest test run is
    kept, else the last validation of the latest training.

    Returns:
        tuple: the matched runs, and ``(run folder, reason)`` for every run left out.
    """
    identities = _Identities(rows, root or metafile_root())
    matched, skipped = [], []
    for run in runs:
        identity = run.network
        if run.config_name in identities.configs:
            if identities.get(run.config_name) != identity:
                skipped.append((run.path, f'config {run.config_name}.py has a network other than '
                                f'the metafile\'s {identities.configs[run.config_name]} (only '
                                'weights, test_cfg and the decoder may differ)'))
                continue
            run.model, run.matched_by = run.config_name, 'name'
        else:
            found = identities.find(identity)
            if len(found) != 1:
                what = 'no' if not found else f'{len(found)} ({", ".join(found)})'
                skipped.append((run.path, f'its network ({run.config_name or "unnamed"}.py) '
                                f'matches {what} paper configs'))
                continue
            run.model, run.matched_by = found[0], 'model'
        matched.append(run)
    latest: Dict[Tuple[str, str], Run] = {}
    for run in sorted(matched, key=lambda r: (r.kind == 'test', r.timestamp)):
        key = (run.work_dir, run.model)
        if key in latest:
            old = latest[key]
            skipped.append((old.path, f'superseded by {run.timestamp} ({run.kind}) of the same '
                            'work dir and model'))
        latest[key] = run
    return sorted(latest.values(), key=lambda r: r.path), sorted(skipped)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def run_metric(run: Run, row: PaperRow, metric: str) -> Optional[float]:
    """The run's value of a metafile metric of ``row``: None if the run did not log it, or
    logged COCO's -1 (no ground truth in that range, e.g. no medium person in the evaluated
    images: the metric is undefined, not -100 %)."""
    names = _CROWDPOSE_NAMES if row.dataset.lower().startswith('crowdpose') else _COCO_NAMES
    value = run.metrics.get(names.get(metric, metric))
    return None if value is None or value < 0 else value


def mean_spread(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """Mean and sample standard deviation (n - 1; None for one value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean)**2 for v in values) / (len(values) - 1))


def build_tables(rows: Sequence[PaperRow], runs: Sequence[Run]) -> List[dict]:
    """Attach runs to rows; one dict per table: ``paper``, ``table``, ``datasets``,
    ``metrics`` (column order) and ``rows``, each row with ``cells`` ``{metric: dict(paper,
    mean, sd, n, diff)}`` in percent."""
    by_model: Dict[str, List[Run]] = {}
    for run in runs:
        by_model.setdefault(run.model, []).append(run)
    tables = []
    for paper, number in TABLES:
        members = [r for r in rows if (r.paper, r.table) == (paper, number)]
        metrics = [m for m in METRIC_ORDER if any(m in r.metrics for r in members)]
        metrics += sorted({m for r in members for m in r.metrics} - set(metrics))
        out_rows = []
        for r in members:
            r.runs = by_model.get(r.model, [])
            cells = {}
            for metric in metrics:
                paper_value = r.metrics.get(metric)
                values = [
                    v for v in (run_metric(run, r, metric) for run in r.runs) if v is not None
                ]
                cell = dict(
                    paper=None if paper_value is None else 100 * paper_value,
                    mean=None,
                    sd=None,
                    n=len(values),
                    diff=None)
                if values:
                    mean, sd = mean_spread([100 * v for v in values])
                    cell.update(mean=mean, sd=sd)
                    if cell['paper'] is not None:
                        cell['diff'] = mean - cell['paper']
                cells[metric] = cell
            out_rows.append(dict(row=r, cells=cells))
        tables.append(
            dict(
                paper=paper,
                table=number,
                metrics=metrics,
                rows=out_rows,
                datasets=sorted({r.dataset
                                 for r in members})))
    return tables


def _percent(value: Optional[float]) -> Optional[float]:
    """A metric in percent; None for COCO's -1 (undefined: no ground truth in the range)."""
    return None if value is None or value < 0 else 100 * value


def _num(value: Optional[float], spec: str = '.1f') -> str:
    return NONE if value is None else format(value, spec)


def _cell(cell: dict) -> str:
    """``paper / ours (diff)``; ours is ``mean +/- sd`` for several runs, ``-`` for none."""
    paper = _num(cell['paper'])
    if cell['mean'] is None:
        return f'{paper} / {NONE}'
    ours = f'{cell["mean"]:.1f}'
    if cell['sd'] is not None:
        ours += f' \u00b1 {cell["sd"]:.1f}'
    if cell['diff'] is None:
        return f'{paper} / {ours}'
    return f'{paper} / {ours} ({cell["diff"]:+.1f})'


def _row_data(row: PaperRow) -> str:
    return ', '.join(sorted({run.data for run in row.runs if run.data})) or NONE


def format_markdown(tables: Sequence[dict], skipped: Sequence[Tuple[str, str]] = ()) -> str:
    """The tables, the runs they use and the runs left out, as markdown."""
    lines = [
        'Each cell: paper / ours (\u0394 = ours \u2212 paper), in % (metric x 100). paper: '
        'the metafiles; ours: one run, or mean \u00b1 sample standard deviation over n runs; '
        '\u2014 : no run. Rows: those of the paper\'s table that have a config here.', ''
    ]
    for t in tables:
        lines += [f'### {t["paper"]} Table {t["table"]} (paper: {", ".join(t["datasets"])})', '']
        header = ['row', 'config', 'n', 'evaluated on'] + list(t['metrics'])
        lines += ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
        for entry in t['rows']:
            row, cells = entry['row'], entry['cells']
            cols = [row.name, f'`{row.model}`', str(len(row.runs)), _row_data(row)]
            cols += [_cell(cells[m]) for m in t['metrics']]
            lines.append('| ' + ' | '.join(cols) + ' |')
        lines.append('')
    runs = sorted(
        {id(run): run
         for t in tables
         for e in t['rows']
         for run in e['row'].runs}.values(),
        key=lambda r: r.path)
    undefined = sorted(
        {f'{m} ({run.path})'
         for run in runs
         for m, v in run.metrics.items() if v < 0})
    if undefined:  # COCO's -1: no ground truth of that size range in the evaluated images
        lines += [
            '\u2014 beside runs: the runs logged -1, COCO\'s "undefined" (the evaluated '
            'images have no person in that size range), for ' + ', '.join(undefined) +
            '; such a value counts as no value (no mean, no \u0394).', ''
        ]
    lines += ['### Runs', '']
    if runs:
        lines += ['| run | kind | model | evaluated on | input | AP |', '|---|---|---|---|---|---|']
        for run in runs:
            kind = run.kind if run.step is None else f'{run.kind} (step {run.step})'
            model = f'`{run.model}`'
            if run.matched_by == 'model':
                model += (f' (network of `{run.config_name}.py`)'
                          if run.config_name else ' (by its network)')
            lines.append(f'| {run.path} | {kind} | {model} | '
                         f'{run.data or NONE} | {run.input_size or NONE} | '
                         f'{_num(_percent(run.metrics["AP"]))} |')
    else:
        lines.append('No run matched a row.')
    if skipped:
        lines += ['', 'Left out:', '']
        lines += [f'- {path}: {why}' for path, why in skipped]
    return '\n'.join(lines) + '\n'


CSV_COLUMNS = ('paper', 'table', 'row_number', 'row', 'model', 'paper_dataset', 'metric',
               'paper_value', 'ours_mean', 'ours_sd', 'n_runs', 'diff', 'evaluated_on')


def format_csv(tables: Sequence[dict]) -> str:
    """One line per (table, row, metric); values in percent, empty where there is none."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(CSV_COLUMNS)

    def val(v):
        return '' if v is None else f'{v:.4f}'

    for t in tables:
        for entry in t['rows']:
            row = entry['row']
            for m in t['metrics']:
                c = entry['cells'][m]
                writer.writerow([
                    row.paper, row.table, row.number, row.name, row.model, row.dataset, m,
                    val(c['paper']),
                    val(c['mean']),
                    val(c['sd']), c['n'],
                    val(c['diff']), ';'.join(sorted({r.data
                                                     for r in row.runs if r.data}))
                ])
    return buf.getvalue()


def collect(work_dirs: Sequence[str],
            root: Optional[str] = None) -> Tuple[List[dict], List[Tuple[str, str]]]:
    """Read the runs under ``work_dirs`` and build the tables.

    Returns:
        tuple: the tables (:func:`build_tables`) and ``(run folder, reason)`` of runs left out.

    Raises:
        FileNotFoundError: a path is not a folder, or holds no run folder.
    """
    rows = load_rows(root)
    runs, skipped, seen = [], [], set()
    for path in work_dirs:
        run_dirs = find_run_dirs(path)
        if not run_dirs:
            raise FileNotFoundError(f'WORK_DIR {path!r}: no run folders (<timestamp>/, as '
                                    'mmengine writes them) at or under it')
        for run_dir in run_dirs:
            if osp.realpath(run_dir) in seen:  # folders given twice or nested
                continue
            seen.add(osp.realpath(run_dir))
            run, why = read_run(run_dir)
            if run is None:
                skipped.append((run_dir, why))
            else:
                runs.append(run)
    matched, left = match_runs(runs, rows, root)
    return build_tables(rows, matched), sorted(skipped + left)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (see the module's usage)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'work_dirs',
        nargs='+',
        metavar='WORK_DIR',
        help='work dirs of mim train / mim test / tools/test.py runs, or folders '
        'holding several')
    parser.add_argument('--out', help='also write the tables to this file')
    parser.add_argument(
        '--format',
        choices=('md', 'csv'),
        default='md',
        help='markdown (default; with the runs used and left out) or csv (one '
        'line per row and metric)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Print the tables (and write them with ``--out``); returns the text."""
    from mmpose_attn.engine.atomic_io import atomic_write
    args = parse_args(argv)
    try:
        tables, skipped = collect(args.work_dirs)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'paper_tables: {e}')
    for path, why in skipped:
        print(f'left out {path}: {why}', file=sys.stderr)
    text = format_markdown(tables, skipped) if args.format == 'md' else format_csv(tables)
    print(text, end='')
    if args.out:
        try:
            os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        except OSError as e:
            sys.exit(f'paper_tables: cannot create the folder of --out {args.out!r}: {e}. '
                     'Pass --out a path in a folder you can write to.')
        atomic_write(text, args.out)  # no half-written file on failure
    return text


if __name__ == '__main__':
    main()
