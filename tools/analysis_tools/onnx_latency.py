"""CPU latency of PyTorch vs ONNX Runtime on the same model, input and thread count.

Usage::

    python tools/analysis_tools/onnx_latency.py      # synthetic SAMKR 256, SAMKR-W32 512
    python tools/analysis_tools/onnx_latency.py CONFIG:H:W ... --threads 2 --repeats 10

Each model (random weights, every ``init_cfg`` removed) is exported to a temporary ONNX file
(mmpose_attn.deployment.export), checked for parity, then PyTorch's tensor forward and the ONNX
Runtime session are timed round by round, interleaved, at batch 1 with ``--threads`` intra-op
threads each. Prints a markdown table with the date and the CPU.
"""
import argparse
import datetime
import statistics
import tempfile
import warnings
from typing import Optional, Sequence

import torch

from mmpose_attn.deployment.export import build_export_model, export_onnx, parity, require_onnx
from mmpose_attn.deployment.onnxruntime_backend import ort_session
from mmpose_attn.deployment.runtime import cpu_description
from mmpose_attn.utils import TensorForward, time_interleaved

DEFAULT_MODELS = (
    'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py:256:256',
    'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py:512:512',
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (see the module's usage)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'models', nargs='*', default=list(DEFAULT_MODELS), help='CONFIG:H:W entries')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> list:
    """Export, check and time each model; prints the table and returns its rows."""
    args = parse_args(argv)
    require_onnx()
    torch.set_num_threads(args.threads)
    rows = []
    for entry in args.models:
        config, h, w = entry.rsplit(':', 2)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            model = build_export_model(config, 'none')
        with tempfile.TemporaryDirectory() as tmp:
            out = f'{tmp}/model.onnx'
            export_onnx(model, out, (int(h), int(w)))
            session = ort_session(out, args.threads)
            x = torch.randn(1, 3, int(h), int(w), generator=torch.Generator().manual_seed(0))
            diff = max(r['max_abs_diff'] for r in parity(model, session, x).values())
            fwd, feed = TensorForward(model), {'input': x.numpy()}
            with torch.no_grad():
                t_torch, t_ort = time_interleaved([lambda: fwd(x), lambda: session.run(None, feed)],
                                                  args.repeats, args.warmup)
        pt, ort = statistics.median(t_torch), statistics.median(t_ort)
        rows.append(
            dict(
                config=config,
                shape=(int(h), int(w)),
                torch_ms=pt * 1e3,
                ort_ms=ort * 1e3,
                speedup=pt / ort,
                max_abs_diff=diff))
        print(f'{config} {h}x{w}: PyTorch {pt * 1e3:.1f} ms, ORT {ort * 1e3:.1f} ms', flush=True)
    print(f'\n{datetime.date.today()}, {cpu_description()}, {args.threads} threads, batch 1, '
          f'median of {args.repeats} interleaved rounds, torch {torch.__version__}, onnxruntime '
          f'{require_onnx()[1].__version__}\n')
    print('| model | input | PyTorch (ms) | ONNX Runtime (ms) | PyTorch / ORT | max abs diff |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["config"]} | {r["shape"][0]}x{r["shape"][1]} | {r["torch_ms"]:.1f} | '
              f'{r["ort_ms"]:.1f} | {r["speedup"]:.2f} | {r["max_abs_diff"]:.1e} |')
    return rows


if __name__ == '__main__':
    main()
