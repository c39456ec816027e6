"""The papers' tables (ESAM Tables 1-2, SAMKR Tables 1-5) with your runs beside them.

Usage::

    python tools/analysis/paper_tables.py work_dirs/                      # every run under it
    python tools/analysis/paper_tables.py WORK_DIR... --format csv --out tables.csv

Rows, matching and aggregation: :mod:`mmpose_attn.analysis.paper_tables` and
docs/figures_and_tables.md.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
from typing import Optional, Sequence

from mmpose_attn.analysis.paper_tables import collect, format_csv, format_markdown


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR',
                        help='work dirs of mim train / mim test / tools/test.py runs, or folders '
                        'holding several')
    parser.add_argument('--out', help='also write the tables to this file')
    parser.add_argument('--format', choices=('md', 'csv'), default='md',
                        help='markdown (default; with the runs used and left out) or csv (one '
                        'line per row and metric)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> str:
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
        # written beside the target and renamed: no half-written file on failure
        folder = osp.dirname(osp.abspath(args.out))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            sys.exit(f'paper_tables: cannot create the folder of --out {args.out!r}: {e}. '
                     'Pass --out a path in a folder you can write to.')
        fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
        try:
            with os.fdopen(fd, 'w', newline='') as f:
                f.write(text)
            os.replace(tmp, args.out)
        except BaseException:
            os.unlink(tmp)
            raise
    return text


if __name__ == '__main__':
    main()
