"""End-to-end speed of the light runtime (``runtime/``, mmpose_attn_runtime) with ONNX Runtime and
OpenVINO against our PyTorch fp32 demo path, interleaved pass by pass in one process.

Usage::

    python tools/analysis_tools/runtime_benchmark.py --images ../shared/data/coco/images \\
        --bbox-file ../shared/data/coco/detections/test_coco_det_AP_H_56.json
    python tools/analysis_tools/runtime_benchmark.py ... --skip-bottomup --rounds 5
    python tools/analysis_tools/runtime_benchmark.py ... --int8-topdown esam_int8.xml  # extra row

Top-down (default ESAM-R50, random weights): crops/s over ``--images`` with the person boxes of
``--bbox-file`` scoring above 0.3; PyTorch fp32 is ``AttnPoseInferencer`` as
tools/topdown_demo_with_mmdet.py runs it (``--batch-size 1``, its default), the runtime batches
``--batch-size`` crops across images. Bottom-up (default SAMKR-W32): images/s over the images
that mmpose's resize brings to the size of the first one (the exported file has fixed H, W),
batch 1. Both with the configs' flip test. A pass reads the images from disk and decodes; no
drawing or files. Each model is exported to a temporary ONNX file (checkpoint ``none``).
Prints the CPU (model, flags), the load average, versions and a markdown table.
"""
import argparse
import datetime
import os
import os.path as osp
import statistics
import tempfile
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch

TOPDOWN = 'configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py'
BOTTOMUP = 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--images', required=True, help='folder of images')
    p.add_argument('--bbox-file', required=True, help='COCO detection json of --images')
    p.add_argument('--topdown', default=TOPDOWN, help='top-down config')
    p.add_argument('--bottomup', default=BOTTOMUP, help='bottom-up config')
    p.add_argument('--skip-topdown', action='store_true')
    p.add_argument('--skip-bottomup', action='store_true')
    p.add_argument(
        '--backends',
        nargs='+',
        default=['onnxruntime', 'openvino'],
        choices=['onnxruntime', 'openvino'],
        help='runtime backends')
    p.add_argument(
        '--int8-topdown',
        help='an extra top-down model file (e.g. an OpenVINO INT8 '
        '.xml of the same config) run by the runtime with OpenVINO')
    p.add_argument('--int8-bottomup', help='the same for bottom-up')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=8, help='runtime crops per call')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    return p.parse_args(argv)


def interleaved(fns: Dict[str, Callable[[], object]], rounds: int,
                warmup: int) -> Dict[str, List[float]]:
    """Wall time per pass of each function, passes interleaved round by round."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def _export(config: str, out: str, hw) -> str:
    from mmpose_attn.deployment import export as dx
    from mmpose_attn.utils import load_config
    cfg = load_config(config)
    torch.manual_seed(0)
    model = dx.build_export_model(cfg, 'none')
    dx.export_onnx(model, out, hw)
    return out


def _input_hw(config: str):
    from mmpose_attn.utils import load_config
    w, h = load_config(config).codec['input_size']
    return h, w


def bench_topdown(args, tmp: str) -> List[dict]:
    from mmpose_attn_runtime import TopDown

    from mmpose_attn.apis import AttnPoseInferencer, CocoDetections, list_images
    onnx_file = _export(args.topdown, osp.join(tmp, 'topdown.onnx'), _input_hw(args.topdown))
    dets = CocoDetections(args.bbox_file)
    paths = list_images(args.images)
    boxes = {p: dets.boxes_of_id(dets.image_id(p)) for p in paths}
    boxes = {p: b[b[:, 4] > 0.3] for p, b in boxes.items()}
    crops = sum(len(b) for b in boxes.values())
    inf = AttnPoseInferencer(
        args.topdown, 'none', device='cpu', detections=dets, backend='pytorch', precision='fp32')

    def run_torch():
        with torch.no_grad():
            for _ in inf(args.images, batch_size=1, bbox_thr=0.3):
                pass

    fns = {'PyTorch fp32 (demo, batch 1)': run_torch}
    models = {
        f'runtime + {b}': TopDown(onnx_file, b, args.threads, args.batch_size)
        for b in args.backends
    }
    if args.int8_topdown:
        models['runtime + openvino (extra file)'] = TopDown(args.int8_topdown, 'openvino',
                                                            args.threads, args.batch_size)
    for name, model in models.items():
        fns[name] = (lambda m=model: m.batch([cv2.imread(p)
                                              for p in paths], [boxes[p] for p in paths]))
    times = interleaved(fns, args.rounds, args.warmup)
    return _rows('top-down ' + osp.basename(args.topdown), times, crops, 'crops')


def bench_bottomup(args, tmp: str) -> List[dict]:
    from mmpose_attn_runtime import BottomUp
    from mmpose_attn_runtime.transforms import bottomup_input_size

    from mmpose_attn.apis import AttnPoseInferencer, list_images
    from mmpose_attn.utils import load_config
    cfg = load_config(args.bottomup)
    resize = [s for s in cfg.val_dataloader.dataset.pipeline if 'Resize' in s['type']][0]
    size = lambda p: bottomup_input_size(  # noqa: E731
        cv2.imread(p).shape[1::-1], resize['input_size'], resize.get('size_factor', 32),
        resize.get('resize_mode', 'fit'))[1]
    paths = list_images(args.images)
    first = size(paths[0])
    paths = [p for p in paths if size(p) == first]
    folder = osp.join(tmp, 'bu_images')
    os.makedirs(folder)
    for p in paths:
        os.symlink(osp.abspath(p), osp.join(folder, osp.basename(p)))
    onnx_file = _export(args.bottomup, osp.join(tmp, 'bottomup.onnx'), (first[1], first[0]))
    inf = AttnPoseInferencer(
        args.bottomup, 'none', device='cpu', backend='pytorch', precision='fp32')

    def run_torch():
        with torch.no_grad():
            for _ in inf(folder, batch_size=1):
                pass

    fns = {'PyTorch fp32 (demo, batch 1)': run_torch}
    models = {f'runtime + {b}': BottomUp(onnx_file, b, args.threads, 1) for b in args.backends}
    if args.int8_bottomup:
        models['runtime + openvino (extra file)'] = BottomUp(args.int8_bottomup, 'openvino',
                                                             args.threads, 1)
    for name, model in models.items():
        fns[name] = lambda m=model: m.batch([cv2.imread(p) for p in paths])
    times = interleaved(fns, args.rounds, args.warmup)
    label = f'bottom-up {osp.basename(args.bottomup)} at {first[1]}x{first[0]}'
    return _rows(label, times, len(paths), 'images')


def _rows(label: str, times: Dict[str, List[float]], items: int, unit: str) -> List[dict]:
    base = statistics.median(next(iter(times.values())))
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append(
            dict(
                model=label,
                path=name,
                pass_s=med,
                rate=items / med,
                unit=unit,
                items=items,
                speedup=base / med))
    return rows


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    args = parse_args(argv)
    from mmpose_attn.deployment.runtime import cpu_description
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random weights, warned at every build
        if not args.skip_topdown:
            rows += bench_topdown(args, tmp)
        if not args.skip_bottomup:
            rows += bench_bottomup(args, tmp)
    import onnxruntime
    try:
        import openvino
        ov_version = openvino.__version__
    except ImportError:
        ov_version = 'not installed'
    print(f'\n{datetime.date.today()}, {cpu_description()}, load average '
          f'{" ".join(f"{x:.1f}" for x in os.getloadavg())}, {args.threads} threads, median of '
          f'{args.rounds} interleaved passes; torch {torch.__version__}, onnxruntime '
          f'{onnxruntime.__version__}, openvino {ov_version}, opencv {cv2.__version__}, '
          f'numpy {np.__version__}\n')
    print('| model | path | s / pass | items/s | vs PyTorch fp32 |')
    print('|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["model"]} | {r["path"]} | {r["pass_s"]:.2f} | {r["rate"]:.3g} {r["unit"]}/s '
              f'({r["items"]} {r["unit"]}) | {r["speedup"]:.2f}x |')
    return rows


if __name__ == '__main__':
    main()
