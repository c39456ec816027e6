"""Export a pose model's tensor forward to ONNX and check it against PyTorch in ONNX Runtime.

Usage::

    python tools/deployment/export_onnx.py \
        configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py \
        --checkpoint work_dirs/.../best.pth --out esam_r50.onnx
    python tools/deployment/export_onnx.py \
        configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py \
        --checkpoint work_dirs/.../best.pth --out samkr_w32.onnx          # bottom-up, no custom ops

Top-down models: image -> ``heatmaps``; bottom-up DEKR-style models (SAMKR, stock DEKR): image ->
``heatmaps`` + ``displacements``, their deformable convs as standard ``GridSample`` + ``MatMul``
(opset 16; models without deformable convs, such as ESAM, export at lower opsets too).
Dynamic batch axis. Bottom-up files take any H, W the config's resize produces (multiples of 32,
``--dynamic-hw``, their default; the export checks the file against PyTorch at a second size and
refuses it otherwise); top-down files take crops of the codec input size. After export,
ONNX Runtime (CPU) and PyTorch run the same random batch of ``--check-batch`` at ``--shape``; every
output must satisfy max|ORT - PyTorch| <= atol + rtol * max|PyTorch| (see
mmpose_attn/deployment/export.py). The file carries its deployment metadata (docs/deployment.md).
``--checkpoint none`` exports random weights on purpose; without ``--checkpoint`` the weights are
random too and a warning says so. Needs ``pip install -r requirements/optional.txt``.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.config import DictAction

from mmpose_attn.deployment.base import is_bottomup
from mmpose_attn.deployment.export import (ATOL, RTOL, build_export_model, compare_latency,
                                           export_onnx, parity, require_onnx)
from mmpose_attn.deployment.onnxruntime_backend import ort_session
from mmpose_attn.utils import input_hw, load_config


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file (or mmpose::... bundled config)')
    parser.add_argument(
        '--checkpoint',
        help='weights to load, or "none" for random weights (default: random, '
        'with a warning)')
    parser.add_argument('--out', help='ONNX file (default: <config name>.onnx)')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input size traced (default: the codec input_size); bottom-up: '
        'multiples of 32, top-down: the codec input_size')
    parser.add_argument(
        '--dynamic-hw',
        action=argparse.BooleanOptionalAction,
        default=None,
        help='let the file take other input heights and widths (bottom-up '
        'only). Default: on for bottom-up models (the export is refused if the '
        'file does not match PyTorch at a second size), off for top-down')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='override config settings, e.g. model.head.rescore_cfg=None')
    parser.add_argument(
        '--check-batch',
        type=int,
        default=2,
        help='batch size of the parity check (export uses 1: dynamic batch)')
    parser.add_argument('--atol', type=float, default=ATOL)
    parser.add_argument('--rtol', type=float, default=RTOL)
    parser.add_argument('--repeats', type=int, default=5, help='latency repeats')
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    require_onnx()  # fail before building anything
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    cfg.merge_from_dict(args.cfg_options)
    model = build_export_model(cfg, args.checkpoint)
    shape = tuple(args.shape) if args.shape else input_hw(cfg)
    dynamic_hw = is_bottomup(model) if args.dynamic_hw is None else args.dynamic_hw
    out = args.out or osp.splitext(osp.basename(args.config.split('::')[-1]))[0] + '.onnx'
    export_onnx(model, out, shape, args.opset, dynamic_hw=dynamic_hw, checkpoint=args.checkpoint)
    session = ort_session(out, args.threads)
    x = torch.randn(args.check_batch, 3, *shape, generator=torch.Generator().manual_seed(0))
    res = parity(model, session, x, args.atol, args.rtol)
    times = compare_latency(model, session, x, repeats=args.repeats)
    ok = all(r['ok'] for r in res.values())
    outputs = ', '.join(f'{name} {r["shape"]}: max |ORT - PyTorch| {r["max_abs_diff"]:.1e} '
                        f'(tol {r["tol"]:.1e}, {"OK" if r["ok"] else "FAIL"})'
                        for name, r in res.items())
    ort_ms = 1e3 * sorted(times['ort'])[len(times['ort']) // 2]
    torch_ms = 1e3 * sorted(times['torch'])[len(times['torch']) // 2]
    hw = 'height, width' if dynamic_hw else f'{shape[0]}, {shape[1]}'
    print(f'{out}: opset {args.opset}, input (batch, 3, {hw}), checked at {shape} batch '
          f'{args.check_batch} -> {outputs}; median latency per batch ({args.threads} threads): '
          f'ONNX Runtime CPU {ort_ms:.1f} ms, PyTorch {torch_ms:.1f} ms')
    if not ok:
        raise SystemExit(f'{out}: parity check failed: {outputs}')
    return dict(
        out=out, ok=ok, outputs=res, ort_ms=ort_ms, torch_ms=torch_ms, dynamic_hw=dynamic_hw)


if __name__ == '__main__':
    main()
