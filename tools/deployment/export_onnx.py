"""Export a top-down model's tensor forward (image -> heatmaps) to ONNX and check it.

Usage::

    python tools/deployment/export_onnx.py configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py \
        --checkpoint work_dirs/.../best.pth --out esam_r50.onnx

The graph is ``backbone -> neck -> head.forward`` (what ``model(x, mode='tensor')`` returns), input
``input`` (N, 3, H, W) already normalised, output ``heatmaps`` (N, K, h, w), with a dynamic batch
axis. Preprocessing, flip test and heatmap decoding stay outside the graph (mmpose's codecs).
After export, onnxruntime (CPU) is run on a batch of ``--check-batch`` images and compared with
PyTorch (max abs diff must stay below ``--atol``, default 1e-4), and both latencies are printed.

Needs the optional extras ``onnx`` and ``onnxruntime`` (``pip install -r requirements/optional.txt``).
Without ``--checkpoint`` the model has random weights (enough to check the export).
"""
import argparse
import os.path as osp
import statistics
import sys
import time
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from mmpose_attn.utils import load_config

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'analysis'))
from model_table import TensorForward, build_model, input_hw  # noqa: E402


def _require_onnx():
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise ImportError(
            f'export_onnx needs the optional extras onnx and onnxruntime ({e}); install them with '
            '`pip install -r requirements/optional.txt`') from e
    return onnx, onnxruntime


def export(model: torch.nn.Module, out: str, shape: Tuple[int, int], opset: int = 17) -> str:
    """Export ``model``'s tensor forward at input (1, 3, H, W) with a dynamic batch axis."""
    onnx, _ = _require_onnx()
    if opset < 17:
        raise ValueError(f'--opset {opset}: need >= 17')
    wrapper = TensorForward(model).eval()
    dummy = torch.randn(1, 3, *shape)
    # the TorchScript exporter: the dynamo one needs onnxscript, which is not a dependency
    torch.onnx.export(
        wrapper, (dummy, ), out, input_names=['input'], output_names=['heatmaps'],
        dynamic_axes={'input': {0: 'batch'}, 'heatmaps': {0: 'batch'}}, opset_version=opset,
        do_constant_folding=True, dynamo=False)
    onnx.checker.check_model(onnx.load(out))
    return out


def _latency(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def check(model: torch.nn.Module, onnx_file: str, shape: Tuple[int, int], batch: int = 2,
          repeats: int = 3, threads: int = 2) -> dict:
    """Run ONNX Runtime (CPU) and PyTorch on the same random batch.

    Returns:
        dict: ``max_abs_diff`` of the heatmaps, ``shape`` of the ORT output, ``ort_ms`` and
        ``torch_ms`` (median latency per batch).
    """
    _, ort = _require_onnx()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(onnx_file, opts, providers=['CPUExecutionProvider'])
    x = torch.randn(batch, 3, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model._forward(x)
    got = sess.run(['heatmaps'], {'input': x.numpy()})[0]
    diff = float(np.abs(got - ref.numpy()).max())
    feed = {'input': x.numpy()}
    with torch.no_grad():
        torch_s = _latency(lambda: model._forward(x), repeats)
    ort_s = _latency(lambda: sess.run(['heatmaps'], feed), repeats)
    return dict(max_abs_diff=diff, shape=tuple(got.shape), ort_ms=ort_s * 1e3,
                torch_ms=torch_s * 1e3)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='top-down config (or mmpose::... bundled config)')
    parser.add_argument('--checkpoint', help='weights to load (default: random init)')
    parser.add_argument('--out', help='ONNX file (default: <config name>.onnx)')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: the codec input_size)')
    parser.add_argument('--check-batch', type=int, default=2,
                        help='batch size of the parity check (export uses 1: dynamic batch)')
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--repeats', type=int, default=5, help='latency repeats')
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    _require_onnx()  # fail before building anything
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    if cfg.model.get('type') != 'TopdownPoseEstimator':
        raise ValueError(f'{args.config}: export_onnx handles top-down models (model.type='
                         f"TopdownPoseEstimator), got {cfg.model.get('type')!r}")
    model = build_model(cfg)
    if args.checkpoint:
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    shape = tuple(args.shape) if args.shape else input_hw(cfg)
    out = args.out or osp.splitext(osp.basename(args.config.split('::')[-1]))[0] + '.onnx'
    export(model, out, shape, args.opset)
    res = check(model, out, shape, args.check_batch, args.repeats, args.threads)
    ok = res['max_abs_diff'] < args.atol
    print(f'{out}: opset {args.opset}, input (batch, 3, {shape[0]}, {shape[1]}), checked at batch '
          f'{args.check_batch} -> heatmaps {res["shape"]}; max |ORT - PyTorch| = '
          f'{res["max_abs_diff"]:.2e} ({"OK" if ok else "FAIL"}, atol {args.atol:g}); latency '
          f'per batch: ONNX Runtime CPU {res["ort_ms"]:.1f} ms, PyTorch {res["torch_ms"]:.1f} ms')
    if not ok:
        raise SystemExit(f'parity check failed: max abs diff {res["max_abs_diff"]:.2e} >= '
                         f'{args.atol:g}')
    return dict(res, out=out, ok=ok)


if __name__ == '__main__':
    main()
