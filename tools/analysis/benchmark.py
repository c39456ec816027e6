"""Forward-pass and end-to-end speed of our models next to the stock mmpose models they extend.

Usage::

    python tools/analysis/benchmark.py                      # everything (minutes on 2 cores)
    python tools/analysis/benchmark.py --pairs esam-r50 --td-batches 1 8 --repeats 5
    python tools/analysis/benchmark.py --pairs samkr-w32 --bu-shape 256 256 --bu-batches 1
    python tools/analysis/benchmark.py --pairs none --predict-batch 8   # predict only

Pairs (ours vs anchor, both built from configs with ``init_cfg=None``, random weights):

* ``esam-r50`` / ``esam-r101``: ESAM vs SimpleBaseline (mmpose's bundled
  ``td-hm_res{50,101}_8xb64-210e_coco-256x192.py``) at 256x192, batches 1, 8, 32.
* ``samkr-w32``: SAMKR vs DEKR (mmpose's ``dekr_hrnet-w32_8xb10-140e_coco-512x512.py``) at
  512x512, batches 1 and 8.
* ``samkr-w32-mmcv``: the same with SAMKR's adaptive blocks on mmcv's deformable-conv kernel
  (``deform_conv_impl='mmcv'``, as stock DEKR), and ``samkr-w32-gs``: stock DEKR with its
  deformable convs on SAMKR's ``grid_sample`` kernel (``convert_deform_convs``). Both keep the
  kernels equal and so isolate what the attention itself costs; ``samkr-w32`` shows what users get
  (on CPU the ``grid_sample`` kernel, see ``mmpose_attn/models/layers/grid_sample_deform_conv.py``).

Method: eval mode, ``torch.no_grad``, the tensor forward (``model._forward``: backbone, neck, head;
no preprocessing, no flip, no decoding), ``--warmup`` untimed calls each, then ``--repeats`` rounds
that time ours and the anchor back to back (A, B, A, B, ...), so that load from other processes
hits both alike. Reported per model: median, min and max wall time; per pair: the ratio of the
medians, of the mins, and the median of the per-round ratios A_i / B_i with their spread (the
noise). ``torch.set_num_threads(--threads)``; on CUDA every call is synchronised.

``--predict-batch N`` (default 8 when a SAMKR pair is selected, else off) also times SAMKR's whole
``test_step`` (data preprocessor, flip test as in
its config, SPR decoding, pose NMS) on N random images: one call with a batch of N vs N calls of
batch 1, and splits each into network and decoding time. ``--multiscale 0.5 2.0`` times the
multi-scale test (scales 1, 0.5, 2) against single-scale on one image (``bench_multiscale``).
"""
import argparse
import copy
import os.path as osp
import statistics
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from mmpose_attn.analysis.model_table import REPO_ROOT, build_model, input_hw
from mmpose_attn.utils import load_config

MMPOSE_TD = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
MMPOSE_DEKR = 'mmpose::body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512.py'
SAMKR_W32 = 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py'


class Pair(NamedTuple):
    ours: str  # config
    anchor: str  # config
    ours_label: str
    anchor_label: str
    top_down: bool
    ours_options: Optional[dict] = None  # cfg options merged into our config
    anchor_grid_sample: bool = False  # the anchor's mmcv deformable convs -> grid_sample kernel


PAIRS: Dict[str, Pair] = {
    'esam-r50': Pair('configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py',
                     MMPOSE_TD + 'td-hm_res50_8xb64-210e_coco-256x192.py', 'ESAM-R50',
                     'SimpleBaseline-R50', True),
    'esam-r101': Pair('configs/esam/coco/td-hm_esam-res101_8xb64-270e_coco-256x192.py',
                      MMPOSE_TD + 'td-hm_res101_8xb64-210e_coco-256x192.py', 'ESAM-R101',
                      'SimpleBaseline-R101', True),
    'samkr-w32': Pair(SAMKR_W32, MMPOSE_DEKR, 'SAMKR-W32', 'DEKR-W32', False),
    # the attention's own cost: both models on the same deformable-conv kernel
    'samkr-w32-mmcv': Pair(SAMKR_W32, MMPOSE_DEKR, 'SAMKR-W32[mmcv-dcn]', 'DEKR-W32', False,
                           {'model.head.deform_conv_impl': 'mmcv'}),
    'samkr-w32-gs': Pair(SAMKR_W32, MMPOSE_DEKR, 'SAMKR-W32', 'DEKR-W32[grid-sample]', False,
                         anchor_grid_sample=True),
}
PREDICT_CONFIG = SAMKR_W32


def _config_path(path: str) -> str:
    return path if '::' in path or osp.isabs(path) else osp.join(REPO_ROOT, path)


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: str) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def time_interleaved(fns: Sequence[Callable[[], object]], repeats: int, warmup: int,
                     device: str = 'cpu') -> List[List[float]]:
    """Wall times (s) of each function, called in turn (A, B, A, B, ...) ``repeats`` times after
    ``warmup`` untimed calls each."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: List[List[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            ts.append(_timed(fn, device))
    return times


def summarise(ours: Sequence[float], anchor: Sequence[float]) -> dict:
    """Statistics of one interleaved pair of timing series (seconds).

    Returns:
        dict: ``ours``/``anchor`` -> (median, min, max); ``ratio_median``, ``ratio_min``
        (ours / anchor of the medians and of the mins); ``paired`` -> (median, min, max) of the
        per-round ratios; ``noise`` -> max / min of each series (1.0 = perfectly steady).
    """
    def mmm(xs):
        return statistics.median(xs), min(xs), max(xs)

    paired = [a / b for a, b in zip(ours, anchor)]
    return dict(
        ours=mmm(ours), anchor=mmm(anchor),
        ratio_median=statistics.median(ours) / statistics.median(anchor),
        ratio_min=min(ours) / min(anchor), paired=mmm(paired),
        noise=(max(ours) / min(ours), max(anchor) / min(anchor)))


def bench_pair(name: str, batches: Sequence[int], repeats: int, warmup: int, device: str,
               shape: Optional[Tuple[int, int]] = None) -> List[dict]:
    """Forward time of one pair of :data:`PAIRS` at each batch size; one result dict each."""
    pair = PAIRS[name]
    cfg = load_config(_config_path(pair.ours))
    cfg.merge_from_dict(pair.ours_options or {})
    models = [build_model(cfg, device=device), build_model(load_config(pair.anchor), device=device)]
    if pair.anchor_grid_sample:
        from mmpose_attn.models.layers import convert_deform_convs
        convert_deform_convs(models[1])
    h, w = shape if shape is not None else input_hw(cfg)
    results = []
    for batch in batches:
        x = torch.randn(batch, 3, h, w, device=device)
        with torch.no_grad():
            fns = [lambda m=m: m._forward(x) for m in models]
            ours, anchor = time_interleaved(fns, repeats, warmup, device)
        results.append(dict(pair=name, ours_label=pair.ours_label, anchor_label=pair.anchor_label,
                            batch=batch, input=(h, w), **summarise(ours, anchor)))
        print(format_result(results[-1]), flush=True)
    return results


def format_result(r: dict) -> str:
    def ms(t):
        return f'{t[0] * 1e3:8.1f} [{t[1] * 1e3:.1f}, {t[2] * 1e3:.1f}]'

    return (f'{r["ours_label"]:>10s} vs {r["anchor_label"]:<19s} b={r["batch"]:<3d} {r["input"][0]}x'
            f'{r["input"][1]}  ours {ms(r["ours"])} ms  anchor {ms(r["anchor"])} ms  '
            f'ratio(median) {r["ratio_median"]:.3f}  ratio(min) {r["ratio_min"]:.3f}  '
            f'paired {r["paired"][0]:.3f} [{r["paired"][1]:.3f}, {r["paired"][2]:.3f}]  '
            f'noise(max/min) {r["noise"][0]:.2f}/{r["noise"][1]:.2f}')


@contextmanager
def _accumulate(obj: object, attr: str, total: List[float], device: str) -> Iterator[None]:
    """Add the wall time of every ``obj.attr(...)`` call to ``total[0]``."""
    orig = getattr(obj, attr)

    def wrapped(*args, **kwargs):
        _sync(device)
        t0 = time.perf_counter()
        out = orig(*args, **kwargs)
        _sync(device)
        total[0] += time.perf_counter() - t0
        return out

    setattr(obj, attr, wrapped)
    try:
        yield
    finally:
        delattr(obj, attr)  # back to the class attribute


def _dataset_meta(cfg) -> dict:
    """The test dataset's parsed metainfo (mmpose's COCO file when the config names none, as
    mmpose's ``CocoDataset`` defaults to)."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    return parse_pose_metainfo(cfg.test_dataloader.dataset.get('metainfo')
                               or dict(from_file='configs/_base_/datasets/coco.py'))


def _bottomup_batch(num: int, h: int, w: int, metainfo: dict, seed: int = 0) -> List[dict]:
    """``num`` single-image data dicts as the val pipeline packs them (random pixels)."""
    from mmpose.structures import PoseDataSample
    gen = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(num):
        img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen)
        sample = PoseDataSample(metainfo=dict(
            metainfo, img_shape=(h, w), ori_shape=(h, w), input_size=(w, h),
            input_center=np.array([w / 2, h / 2], dtype=np.float32),
            input_scale=np.array([w, h], dtype=np.float32)))
        items.append(dict(inputs=img, data_samples=sample))
    return items


def bench_predict(batch: int, repeats: int, warmup: int, device: str,
                  shape: Optional[Tuple[int, int]] = None, config: str = PREDICT_CONFIG) -> dict:
    """SAMKR ``test_step`` on ``batch`` images: one batched call vs a loop of batch-1 calls.

    Returns:
        dict: ``batched`` / ``loop`` -> (median, min, max) seconds per ``batch`` images;
        ``net`` / ``decode`` -> median seconds in the network / in ``head.decode`` for each;
        ``speedup`` = loop median / batched median (throughput ratio); ``paired`` per-round
        ratios (median, min, max).
    """
    from mmengine.dataset import pseudo_collate

    cfg = load_config(_config_path(config))
    model = build_model(cfg, device=device)
    h, w = shape if shape is not None else input_hw(cfg)
    meta = _dataset_meta(cfg)
    metainfo = dict(flip_indices=meta['flip_indices'], skeleton_links=meta['skeleton_links'])
    items = _bottomup_batch(batch, h, w, metainfo)
    batched = pseudo_collate(items)
    singles = [pseudo_collate([it]) for it in items]
    net_t, dec_t = {'batched': [], 'loop': []}, {'batched': [], 'loop': []}

    def run(data_list, key):
        net, dec = [0.0], [0.0]
        with _accumulate(model, 'extract_feat', net, device), \
                _accumulate(model.head, 'forward', net, device), \
                _accumulate(model.head, 'decode', dec, device):
            for data in data_list:
                out = model.test_step(data)
        net_t[key].append(net[0])
        dec_t[key].append(dec[0])
        return out

    with torch.no_grad():
        times = time_interleaved([lambda: run([batched], 'batched'), lambda: run(singles, 'loop')],
                                 repeats, warmup, device)
    b, lp = times
    res = summarise(lp, b)  # "ours" = loop, "anchor" = batched: ratio = throughput gain
    n = warmup
    return dict(batch=batch, input=(h, w), batched=res['anchor'], loop=res['ours'],
                speedup=res['ratio_median'], paired=res['paired'], noise=res['noise'][::-1],
                net=dict(batched=statistics.median(net_t['batched'][n:]),
                         loop=statistics.median(net_t['loop'][n:])),
                decode=dict(batched=statistics.median(dec_t['batched'][n:]),
                            loop=statistics.median(dec_t['loop'][n:])))


def format_predict(r: dict) -> str:
    def s(t):
        return f'{t[0]:.2f} s [{t[1]:.2f}, {t[2]:.2f}]'

    b = r['batch']
    return (f'SAMKR-W32 predict {b} images {r["input"][0]}x{r["input"][1]} (flip test, decode):'
            f' batch {b} {s(r["batched"])} (net {r["net"]["batched"]:.2f} s, decode '
            f'{r["decode"]["batched"]:.3f} s) | {b} x batch 1 {s(r["loop"])} (net '
            f'{r["net"]["loop"]:.2f} s, decode {r["decode"]["loop"]:.3f} s) | throughput '
            f'batch {b} / batch 1: {r["speedup"]:.2f}x (paired {r["paired"][0]:.2f} '
            f'[{r["paired"][1]:.2f}, {r["paired"][2]:.2f}]), noise(max/min) '
            f'{r["noise"][0]:.2f}/{r["noise"][1]:.2f}')


def bench_multiscale(aug_scales: Sequence[float], repeats: int, warmup: int, device: str,
                     image_hw: Tuple[int, int] = (480, 640), config: str = PREDICT_CONFIG) -> dict:
    """SAMKR ``test_step`` on one image: single-scale vs multi-scale at ``[1] + aug_scales``.

    Both run the config's test pipeline (flip test as configured) on the same random image, once,
    untimed; the timed part is ``test_step`` (preprocessor, network on every scale and flip,
    aggregation, decoding, pose NMS). Same weights on both sides.

    Returns:
        dict: ``single`` / ``multi`` -> (median, min, max) seconds per image; ``ratio`` = multi
        median / single median; ``input`` (H, W) of scale 1; ``scale_inputs`` the (H, W) of every
        scale the multi-scale run fed the network.
    """
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope

    init_default_scope('mmpose')
    cfg = load_config(_config_path(config))
    models, data = {}, {}
    img = np.random.RandomState(0).randint(0, 256, (*image_hw, 3), np.uint8)
    meta = _dataset_meta(cfg)
    for key, scales in (('single', None), ('multi', list(aug_scales))):
        c = copy.deepcopy(cfg)
        c.model.test_cfg.multiscale_test = scales is not None
        pipeline = c.test_dataloader.dataset.pipeline
        resize = [t for t in pipeline if t['type'] == 'MultiScaleBottomupResize']
        if not resize:
            raise ValueError(f'{config}: the test pipeline has no MultiScaleBottomupResize, '
                             'so it cannot run a multi-scale test')
        resize[0]['aug_scales'] = scales
        models[key] = build_model(c, device=device)
        sample = Compose(pipeline)(dict(img=img.copy(), img_path='', id=0, img_id=0, **meta))
        data[key] = pseudo_collate([sample])
    models['multi'].load_state_dict(models['single'].state_dict())
    with torch.no_grad():
        single, multi = time_interleaved([lambda: models['single'].test_step(data['single']),
                                          lambda: models['multi'].test_step(data['multi'])],
                                         repeats, warmup, device)
    res = summarise(multi, single)
    return dict(aug_scales=list(aug_scales), image=tuple(image_hw),
                input=tuple(data['single']['inputs'][0].shape[-2:]),
                # pseudo_collate turns one sample's list of scales into one tuple per scale
                scale_inputs=[tuple(scale[0].shape[-2:]) for scale in data['multi']['inputs']],
                flip_test=bool(cfg.model.test_cfg.get('flip_test', False)),
                single=res['anchor'], multi=res['ours'], ratio=res['ratio_median'])


def format_multiscale(r: dict) -> str:
    def s(t):
        return f'{t[0]:.3f} s [{t[1]:.3f}, {t[2]:.3f}]'

    shapes = ', '.join(f'{h}x{w}' for h, w in r['scale_inputs'])
    return (f'SAMKR test_step, one {r["image"][0]}x{r["image"][1]} image (flip test: '
            f'{r["flip_test"]}): single-scale {s(r["single"])} | scales '
            f'{[1.0] + r["aug_scales"]} (inputs {shapes}) {s(r["multi"])} | {r["ratio"]:.2f}x')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pairs', nargs='+', default=list(PAIRS),
                        help=f'pairs to time, of {list(PAIRS)}, or "none"')
    parser.add_argument('--td-batches', type=int, nargs='+', default=[1, 8, 32])
    parser.add_argument('--bu-batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--td-shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='top-down input override (default: codec, 256x192)')
    parser.add_argument('--bu-shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='bottom-up input override (default: codec, 512x512)')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2, help='torch.set_num_threads')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--predict-batch', type=int, default=None,
                        help='images for the SAMKR predict timing (0: skip; default: 8 when a '
                        'bottom-up pair is selected, else skipped)')
    parser.add_argument('--predict-repeats', type=int, default=3)
    parser.add_argument('--multiscale', type=float, nargs='+', metavar='SCALE',
                        help='also time SAMKR test_step on one 480x640 image with these extra '
                        'test scales (e.g. 0.5 2.0) against single-scale')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = [] if args.pairs == ['none'] else args.pairs
    for p in pairs:
        if p not in PAIRS:
            raise ValueError(f'--pairs: unknown pair {p!r}; choose from {list(PAIRS)} or none')
    print(f'device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'repeats {args.repeats}, warm-up {args.warmup}; times in ms as median [min, max]; '
          'ratio = ours / anchor (< 1: ours faster)', flush=True)
    out = dict(forward=[], predict=None)
    for p in pairs:
        td = PAIRS[p].top_down
        shape = args.td_shape if td else args.bu_shape
        out['forward'] += bench_pair(p, args.td_batches if td else args.bu_batches,
                                     args.repeats, args.warmup, args.device,
                                     tuple(shape) if shape else None)
    predict_batch = args.predict_batch
    if predict_batch is None:
        # the predict timing is SAMKR's: only --pairs that include a bottom-up pair ask for it
        predict_batch = 8 if any(not PAIRS[p].top_down for p in pairs) else 0
    if predict_batch > 0:
        out['predict'] = bench_predict(predict_batch, args.predict_repeats, args.warmup,
                                       args.device,
                                       tuple(args.bu_shape) if args.bu_shape else None)
        print(format_predict(out['predict']), flush=True)
    if args.multiscale:
        out['multiscale'] = bench_multiscale(args.multiscale, args.predict_repeats, args.warmup,
                                             args.device)
        print(format_multiscale(out['multiscale']), flush=True)
    return out


if __name__ == '__main__':
    main()
