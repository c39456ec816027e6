"""Params (M) and GFLOPs of configs, next to the papers' numbers from the metafiles.

Usage::

    python tools/analysis_tools/model_table.py                          # all of configs/**/*.py
    python tools/analysis_tools/model_table.py 'configs/esam/**/*.py'   # a glob, or several paths
    python tools/analysis_tools/model_table.py --markdown --out docs/model_table.md
    python tools/analysis_tools/model_table.py \
        mmpose::body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512.py

Counting (mmengine's :class:`FlopAnalyzer`, one fused multiply-add = one FLOP, batch 1, the tensor
forward only: no data preprocessor, no flip test, no decoding). Besides mmengine's own handles
(conv, matmul/linear, BN, bilinear up-sampling, adaptive pooling) this counts mmcv's deformable
conv as the dense conv it evaluates (out * C_in/groups * k^2; the bilinear sampling of its
offsets is not counted). NOT counted: softmax, sigmoid, ReLU, element-wise add/mul/addcmul,
max/avg pooling, mean, and the grouped conv's im2col - each tool counts these differently, which
is why papers' FLOPs can differ by a few percent. Models are built with every ``init_cfg=None``,
so nothing is downloaded. Run from the checkout (the metafiles are read from it).
"""
import argparse
import glob
import os.path as osp
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from torch import nn

from metafile import REPO_ROOT, paper_numbers
from mmpose_attn.utils import TensorForward, build_model, input_hw, load_config

DEFAULT_CONFIGS = osp.join(REPO_ROOT, 'configs', '**', '*.py')

#: Relative tolerance within which a config reproduces the paper's parameter count.
PARAMS_RTOL = 0.01


def _deform_conv_flops(inputs: List[Any], outputs: List[Any]) -> int:
    """mmcv ``DeformConv2dFunction`` (input, offset, weight, ...): MACs of the equivalent conv."""
    from mmengine.analysis.jit_handles import get_shape
    out_shape = get_shape(outputs[0])
    weight_shape = get_shape(inputs[2])  # (C_out, C_in / groups, kh, kw)
    c_in_per_group, kh, kw = weight_shape[1:]
    num_out = 1
    for d in out_shape:
        num_out *= d
    return num_out * c_in_per_group * kh * kw


def count_flops(model: nn.Module, shape: Tuple[int, int, int, int]) -> Tuple[int, Dict[str, int]]:
    """FLOPs (fused multiply-add = 1) of the tensor forward and the ops that were not counted.

    Sets every :class:`GridSampleDeformConv2d` of ``model`` to mmcv's kernel (same results).

    Returns:
        tuple: total FLOPs, ``{op name: occurrences}`` of uncounted ops.
    """
    from mmpose_attn.models.layers import GridSampleDeformConv2d
    for m in model.modules():
        # trace mmcv's op, counted by the handle below, so that the count does not depend on
        # which kernel (grid_sample or mmcv) computes the deformable conv
        if isinstance(m, GridSampleDeformConv2d):
            m.impl = 'mmcv'
    analyzer = FlopAnalyzer(TensorForward(model), (torch.randn(*shape), ))
    analyzer.set_op_handle('prim::PythonOp.DeformConv2dFunction', _deform_conv_flops)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    with torch.no_grad():
        total = analyzer.total()
        unsupported = dict(analyzer.unsupported_ops())
    return total, unsupported


def structure(model: nn.Module) -> str:
    """SAMKR (branch, m, c, g, s) or ESAM (SAM layout, r, stages) of a built model; '' else."""
    head, backbone = getattr(model, 'head', None), getattr(model, 'backbone', None)
    parts = []
    if backbone is not None and hasattr(backbone, 'attention_stages'):
        stages = ''.join(str(i + 1) for i, a in enumerate(backbone.attention_stages) if a)
        sam = backbone.attn1 if hasattr(backbone, 'attn1') else None
        layout = getattr(getattr(sam, 'spatial_gate', None), 'layout', '?')
        reduction = getattr(backbone, 'reduction', None)
        if reduction is None and sam is not None:
            conv1 = sam.channel_gate.conv1.conv
            reduction = conv1.in_channels // conv1.out_channels
        parts.append(f'SAM {layout}, CAM r={reduction}, stages {stages or "none"}')
    if head is not None and hasattr(head, 'structure'):
        st = head.structure
        parts.append(f"{st['branch']} m={st['m']} c={st['c']} g={st['g']} s={st['s']}")
    if head is not None and hasattr(head, 'num_adaptive_blocks'):
        parts.append(f'{head.num_adaptive_blocks} adaptive blocks')
    if head is not None and hasattr(head, 'upsample_order'):
        parts.append(f'bilinear head ({head.upsample_order})')
    return '; '.join(parts)


def analyse(config: str, shape: Optional[Tuple[int, int]] = None, flops: bool = True) -> dict:
    """One row of the table.

    Args:
        config: config path or ``pkg::path``.
        shape: (H, W) input override; defaults to the config's ``codec.input_size``.
        flops: also trace the model for GFLOPs (seconds per config); params alone are instant.

    Returns:
        dict with ``name``, ``config``, ``input`` (H, W), ``params_m``, ``gflops`` (or None),
        ``uncounted`` (op -> count), ``structure``, ``paper`` (the metafile's numbers, see
        :func:`metafile.paper_numbers`, or None), ``params_ratio`` /
        ``gflops_ratio`` (ours / paper, or None).
    """
    cfg = load_config(config)
    name = osp.splitext(osp.basename(config))[0]
    model = build_model(cfg)
    h, w = shape if shape is not None else input_hw(cfg)
    params = parameter_count(model)[''] / 1e6
    gflops, uncounted = None, {}
    if flops:
        total, uncounted = count_flops(model, (1, 3, h, w))
        gflops = total / 1e9
    paper = paper_numbers().get(name)
    row = dict(
        name=name,
        config=config,
        input=(h, w),
        params_m=params,
        gflops=gflops,
        uncounted=uncounted,
        structure=structure(model),
        paper=paper,
        params_ratio=None,
        gflops_ratio=None)
    if paper is not None:
        if paper['params_m'] is not None:
            row['params_ratio'] = params / paper['params_m']
        if paper['gflops'] is not None and gflops is not None:
            row['gflops_ratio'] = gflops / paper['gflops']
    return row


def _fmt(value: Optional[float], spec: str) -> str:
    return '\u2014' if value is None else format(value, spec)


def format_table(rows: Sequence[dict], markdown: bool = False) -> str:
    """Rows from :func:`analyse` as a markdown table or aligned plain text, plus a footnote on
    what the FLOP counter leaves out."""
    header = [
        'config', 'input', 'Params (M)', 'paper', 'ratio', 'GFLOPs', 'paper', 'ratio', 'structure',
        'paper AP', 'paper table'
    ]
    body = []
    for r in rows:
        paper = r['paper'] or dict(params_m=None, gflops=None, ap=None, table='')
        body.append([
            f'`{r["name"]}`' if markdown else r['name'],
            f'{r["input"][0]}x{r["input"][1]}',
            f'{r["params_m"]:.2f}',
            _fmt(paper['params_m'], '.1f'),
            _fmt(r['params_ratio'], '.3f'),
            _fmt(r['gflops'], '.2f'),
            _fmt(paper['gflops'], '.1f'),
            _fmt(r['gflops_ratio'], '.3f'),
            r['structure'] or '\u2014',
            _fmt(paper['ap'], '.1f'),
            paper['table'] or '\u2014',
        ])
    uncounted = sorted({op for r in rows for op in r['uncounted']})
    note = ('GFLOPs: mmengine FlopAnalyzer, batch 1, tensor forward (1 multiply-add = 1 FLOP); '
            'mmcv deformable conv counted as its dense conv. Not counted: ' +
            (', '.join(op.replace('aten::', '') for op in uncounted) or 'nothing') +
            f'. Params within {PARAMS_RTOL:.0%} of the paper count as reproduced. Paper values '
            '(params, GFLOPs, AP of the first table named) from the metafiles '
            '(model-index.yml, configs/*/*.yml).')
    if markdown:
        lines = [
            '| ' + ' | '.join(header) + ' |',
            '|' + '|'.join(['---'] + ['---:'] * 7 + ['---', '---:', '---']) + '|'
        ]
        lines += ['| ' + ' | '.join(cells) + ' |' for cells in body]
        return '\n'.join(lines) + '\n\n' + note + '\n'
    widths = [max(len(str(x[i])) for x in [header] + body) for i in range(len(header))]
    lines = [
        '  '.join(str(c).ljust(wd) for c, wd in zip(cells, widths)).rstrip()
        for cells in [header] + body
    ]
    lines.insert(1, '-' * len(lines[0]))
    return '\n'.join(lines) + '\n\n' + note + '\n'


def expand(patterns: Sequence[str]) -> List[str]:
    """Config paths from globs / paths / ``pkg::`` names, in order, without duplicates; files
    under ``_base_`` (runtime fragments without a model) are skipped, as mmpose's tools do."""
    paths: List[str] = []
    for pattern in patterns or [DEFAULT_CONFIGS]:
        found = [pattern] if '::' in pattern else sorted(glob.glob(pattern, recursive=True))
        if not found:
            raise FileNotFoundError(f'no config matches {pattern!r}')
        paths += [
            p for p in found if p not in paths and not osp.basename(p).startswith('_')
            and '_base_' not in p.split(osp.sep)
        ]
    return paths


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (see the module's usage)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'configs', nargs='*', help='config paths / globs / pkg:: names (default: configs/**/*.py)')
    parser.add_argument('--markdown', action='store_true', help='markdown table')
    parser.add_argument(
        '--out', help='also write the table to this file (e.g. '
        'docs/model_table.md)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input size override (default: codec.input_size of each config)')
    parser.add_argument('--no-flops', action='store_true', help='parameters only (fast)')
    parser.add_argument('--threads', type=int, default=2, help='torch threads (default 2)')
    return parser.parse_args(argv)


#: The first line of a generated page (docs/model_table.md).
GENERATED_HEADER = ('<!-- generated by: python tools/analysis_tools/model_table.py --markdown '
                    '--out {out}; do not edit by hand -->\n\n')


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Print the table (and write it with ``--out``); returns it."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for path in expand(args.configs):
        t0 = time.perf_counter()
        rows.append(
            analyse(path, tuple(args.shape) if args.shape else None, flops=not args.no_flops))
        print(
            f'{rows[-1]["name"]}: {rows[-1]["params_m"]:.2f} M '
            f'({time.perf_counter() - t0:.1f} s)',
            file=sys.stderr)
    table = format_table(rows, markdown=args.markdown)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            if args.markdown:
                f.write(GENERATED_HEADER.format(out=args.out))
            f.write(table)
    return table


if __name__ == '__main__':
    main()
