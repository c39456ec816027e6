"""Forward-pass and end-to-end speed of our models next to the stock mmpose models they extend,
and of every backend (PyTorch fp32/bf16, ONNX Runtime, OpenVINO) against PyTorch fp32.

Usage (from the checkout root; ``gpu_check.py`` imports this file as a sibling module)::

    python tools/analysis_tools/benchmark.py                      # everything (minutes, 2 cores)
    python tools/analysis_tools/benchmark.py --pairs esam-r50 --td-batches 1 8 --repeats 5
    python tools/analysis_tools/benchmark.py --pairs samkr-w32 --bu-shape 256 256 --bu-batches 1
    python tools/analysis_tools/benchmark.py --pairs none --predict-batch 8   # predict only
    # backends of each model, interleaved with PyTorch fp32, then end to end over real images
    python tools/analysis_tools/benchmark.py --pairs esam-r50 samkr-w32 --td-batches 8 \\
        --bu-batches 1 --backends pytorch pytorch-bf16 onnxruntime openvino --device cpu \\
        --e2e-images data/coco/val2017_subset --bbox-file person_detections.json

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

``--backends`` (:data:`BACKENDS`; CPU) times both models of each pair under each backend on the
same batch, interleaved with PyTorch fp32 (``bench_backends``): ms per batch and the speed-up; a
backend that fails on a model is reported as that row's result. ``--e2e-images DIR`` adds end to
end rows through :class:`~mmpose_attn.apis.AttnPoseInferencer`: top-down crops/s with the boxes of
``--bbox-file`` (against the PyTorch fp32 demo at one image per batch and mmpose's
``inference_topdown`` with the stock anchor; ``bench_e2e_topdown``) and bottom-up images/s on square
crops of the images (against stock DEKR in PyTorch; ``bench_e2e_bottomup``).
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

from metafile import REPO_ROOT
from mmpose_attn.utils import build_model, input_hw, load_config, synchronize, time_interleaved

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
    'esam-r50':
    Pair('configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py',
         MMPOSE_TD + 'td-hm_res50_8xb64-210e_coco-256x192.py', 'ESAM-R50', 'SimpleBaseline-R50',
         True),
    'esam-r101':
    Pair('configs/esam/coco/td-hm_esam-res101_8xb64-270e_coco-256x192.py',
         MMPOSE_TD + 'td-hm_res101_8xb64-210e_coco-256x192.py', 'ESAM-R101', 'SimpleBaseline-R101',
         True),
    'samkr-w32':
    Pair(SAMKR_W32, MMPOSE_DEKR, 'SAMKR-W32', 'DEKR-W32', False),
    # the attention's own cost: both models on the same deformable-conv kernel
    'samkr-w32-mmcv':
    Pair(SAMKR_W32, MMPOSE_DEKR, 'SAMKR-W32[mmcv-dcn]', 'DEKR-W32', False,
         {'model.head.deform_conv_impl': 'mmcv'}),
    'samkr-w32-gs':
    Pair(
        SAMKR_W32,
        MMPOSE_DEKR,
        'SAMKR-W32',
        'DEKR-W32[grid-sample]',
        False,
        anchor_grid_sample=True),
}
PREDICT_CONFIG = SAMKR_W32


def _config_path(path: str) -> str:
    return path if '::' in path or osp.isabs(path) else osp.join(REPO_ROOT, path)


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
        ours=mmm(ours),
        anchor=mmm(anchor),
        ratio_median=statistics.median(ours) / statistics.median(anchor),
        ratio_min=min(ours) / min(anchor),
        paired=mmm(paired),
        noise=(max(ours) / min(ours), max(anchor) / min(anchor)))


def bench_pair(name: str,
               batches: Sequence[int],
               repeats: int,
               warmup: int,
               device: str,
               shape: Optional[Tuple[int, int]] = None,
               pair: Optional[Pair] = None) -> List[dict]:
    """Forward time of one pair at each batch size; one result dict each.

    Args:
        name: A key of :data:`PAIRS`, or the label of ``pair``.
        pair: A pair of one's own (e.g. small stand-ins); default ``PAIRS[name]``.
    """
    pair = PAIRS[name] if pair is None else pair
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
        results.append(
            dict(
                pair=name,
                ours_label=pair.ours_label,
                anchor_label=pair.anchor_label,
                batch=batch,
                input=(h, w),
                **summarise(ours, anchor)))
        print(format_result(results[-1]), flush=True)
    return results


def format_result(r: dict) -> str:

    def ms(t):
        return f'{t[0] * 1e3:8.1f} [{t[1] * 1e3:.1f}, {t[2] * 1e3:.1f}]'

    return (f'{r["ours_label"]:>10s} vs {r["anchor_label"]:<19s} b={r["batch"]:<3d} '
            f'{r["input"][0]}x{r["input"][1]}  ours {ms(r["ours"])} ms  '
            f'anchor {ms(r["anchor"])} ms  '
            f'ratio(median) {r["ratio_median"]:.3f}  ratio(min) {r["ratio_min"]:.3f}  '
            f'paired {r["paired"][0]:.3f} [{r["paired"][1]:.3f}, {r["paired"][2]:.3f}]  '
            f'noise(max/min) {r["noise"][0]:.2f}/{r["noise"][1]:.2f}')


@contextmanager
def _accumulate(obj: object, attr: str, total: List[float], device: str) -> Iterator[None]:
    """Add the wall time of every ``obj.attr(...)`` call to ``total[0]``."""
    orig = getattr(obj, attr)

    def wrapped(*args, **kwargs):
        synchronize(device)
        t0 = time.perf_counter()
        out = orig(*args, **kwargs)
        synchronize(device)
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
    return parse_pose_metainfo(
        cfg.test_dataloader.dataset.get('metainfo')
        or dict(from_file='configs/_base_/datasets/coco.py'))


def _bottomup_batch(num: int, h: int, w: int, metainfo: dict, seed: int = 0) -> List[dict]:
    """``num`` single-image data dicts as the val pipeline packs them (random pixels)."""
    from mmpose.structures import PoseDataSample
    gen = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(num):
        img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen)
        sample = PoseDataSample(
            metainfo=dict(
                metainfo,
                img_shape=(h, w),
                ori_shape=(h, w),
                input_size=(w, h),
                input_center=np.array([w / 2, h / 2], dtype=np.float32),
                input_scale=np.array([w, h], dtype=np.float32)))
        items.append(dict(inputs=img, data_samples=sample))
    return items


def bench_predict(batch: int,
                  repeats: int,
                  warmup: int,
                  device: str,
                  shape: Optional[Tuple[int, int]] = None,
                  config: str = PREDICT_CONFIG) -> dict:
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
    return dict(
        batch=batch,
        input=(h, w),
        batched=res['anchor'],
        loop=res['ours'],
        speedup=res['ratio_median'],
        paired=res['paired'],
        noise=res['noise'][::-1],
        net=dict(
            batched=statistics.median(net_t['batched'][n:]),
            loop=statistics.median(net_t['loop'][n:])),
        decode=dict(
            batched=statistics.median(dec_t['batched'][n:]),
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


def bench_multiscale(aug_scales: Sequence[float],
                     repeats: int,
                     warmup: int,
                     device: str,
                     image_hw: Tuple[int, int] = (480, 640),
                     config: str = PREDICT_CONFIG) -> dict:
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
        single, multi = time_interleaved([
            lambda: models['single'].test_step(data['single']),
            lambda: models['multi'].test_step(data['multi'])
        ], repeats, warmup, device)
    res = summarise(multi, single)
    return dict(
        aug_scales=list(aug_scales),
        image=tuple(image_hw),
        input=tuple(data['single']['inputs'][0].shape[-2:]),
        # pseudo_collate turns one sample's list of scales into one tuple per scale
        scale_inputs=[tuple(scale[0].shape[-2:]) for scale in data['multi']['inputs']],
        flip_test=bool(cfg.model.test_cfg.get('flip_test', False)),
        single=res['anchor'],
        multi=res['ours'],
        ratio=res['ratio_median'])


def format_multiscale(r: dict) -> str:

    def s(t):
        return f'{t[0]:.3f} s [{t[1]:.3f}, {t[2]:.3f}]'

    shapes = ', '.join(f'{h}x{w}' for h, w in r['scale_inputs'])
    return (f'SAMKR test_step, one {r["image"][0]}x{r["image"][1]} image (flip test: '
            f'{r["flip_test"]}): single-scale {s(r["single"])} | scales '
            f'{[1.0] + r["aug_scales"]} (inputs {shapes}) {s(r["multi"])} | {r["ratio"]:.2f}x')


# --- backends: PyTorch fp32 / bf16, ONNX Runtime, OpenVINO -----------------------------------
#: ``--backends`` choices: (runtime backend, precision). ``pytorch`` (fp32) is the baseline.
BACKENDS: Dict[str, Tuple[str, str]] = {
    'pytorch': ('pytorch', 'fp32'),
    'pytorch-bf16': ('pytorch', 'bf16'),
    'onnxruntime': ('onnxruntime', 'fp32'),
    'openvino': ('openvino', 'auto'),
    'openvino-fp32': ('openvino', 'fp32'),
}


def _check_backends(backends: Sequence[str]) -> List[str]:
    for b in backends:
        if b not in BACKENDS:
            raise ValueError(f'--backends: unknown backend {b!r}; choose from {list(BACKENDS)}')
    return ['pytorch'] + [b for b in backends if b != 'pytorch']


def export_for_backends(model: torch.nn.Module, backends: Sequence[str], out_dir: str, name: str,
                        shape: Tuple[int, int]) -> Optional[str]:
    """The model's ONNX file in ``out_dir`` when a backend needs one (exported from a copy: the
    export puts deformable convs on the ``grid_sample`` kernel in place)."""
    if not any(BACKENDS[b][0] != 'pytorch' for b in backends):
        return None
    from mmpose_attn.deployment.export import export_onnx
    out = osp.join(out_dir, f'{name}.onnx')
    export_onnx(copy.deepcopy(model), out, shape)
    return out


def backend_network(model: torch.nn.Module, backend: str, onnx_file: Optional[str],
                    threads: Optional[int], cache_dir: Optional[str]) -> Callable:
    """The network forward of a copy of ``model`` under one of :data:`BACKENDS`, installed by
    :func:`mmpose_attn.deployment.runtime.use_backend` as the demos and the inferencer do.

    A backend that cannot take the model returns a function raising that error, so that the
    benchmark reports it as the row's result.
    """
    from mmpose_attn.deployment.runtime import use_backend
    from mmpose_attn.utils import TensorForward
    kind, precision = BACKENDS[backend]
    try:
        net = use_backend(
            copy.deepcopy(model).eval(),
            kind,
            onnx_file,
            precision=precision,
            threads=threads,
            cache_dir=cache_dir)
    except Exception as e:  # reported as the row's result, the other backends still run

        def fails(x, error=e):
            raise error

        return fails
    return TensorForward(net)


def _interleave_available(fns: Dict[str, Callable[[], object]],
                          repeats: int,
                          warmup: int,
                          device: str = 'cpu') -> Tuple[Dict[str, List[float]], Dict[str, str]]:
    """:func:`time_interleaved` over the functions whose first call succeeds; the others'
    errors (e.g. a kernel without bf16) are returned instead of their times."""
    errors, ok = {}, {}
    for key, fn in fns.items():
        try:
            fn()
        except Exception as e:  # reported as the row's result, the others still run
            errors[key] = f'{type(e).__name__}: {str(e).splitlines()[0][:120]}'
        else:
            ok[key] = fn
    times = time_interleaved(list(ok.values()), repeats, max(warmup - 1, 0), device)
    return dict(zip(ok, times)), errors


def _rows(label: str, times: Dict[str, List[float]], errors: Dict[str, str], unit: float,
          extra: dict) -> List[dict]:
    """Per backend: median/min/max, and speed-up over ``pytorch`` (ratio of medians and the
    median of the per-round ratios)."""
    base = times.get('pytorch')
    rows = []
    for key in list(times) + list(errors):
        row = dict(model=label, backend=key, **extra)
        if key in errors:
            row['error'] = errors[key]
        else:
            ts = times[key]
            row.update(median=statistics.median(ts), min=min(ts), max=max(ts), unit=unit)
            for ref, name in ((base, 'speedup'), (times.get('anchor'), 'speedup_vs_anchor')):
                if ref is not None:
                    row[name] = statistics.median(ref) / statistics.median(ts)
                    row[name + '_paired'] = statistics.median(b / t for b, t in zip(ref, ts))
        rows.append(row)
    return rows


def format_backend_row(r: dict) -> str:
    head = f'{r["model"]:>22s} {r["backend"]:<14s}'
    what = f'b={r["batch"]} {r["input"][0]}x{r["input"][1]}' if 'batch' in r else r.get('what', '')
    if 'error' in r:
        return f'{head} {what:<14s} fails: {r["error"]}'
    if 'items' in r:  # end to end: items per second
        rate = r['items'] / r['median']
        text = f'{rate:8.2f} {r["item_name"]}/s ({r["median"]:.2f} s per pass)'
    else:
        text = f'{r["median"] * 1e3:8.1f} ms [{r["min"] * 1e3:.1f}, {r["max"] * 1e3:.1f}]'
    speed = (f'  {r["speedup"]:.2f}x (paired {r["speedup_paired"]:.2f}x)' if 'speedup' in r else '')
    if 'speedup_vs_anchor' in r and r['backend'] != 'anchor':
        speed += f', {r["speedup_vs_anchor"]:.2f}x the anchor'
    return f'{head} {what:<14s} {text}{speed}'


def bench_backends(name: str,
                   backends: Sequence[str],
                   batches: Sequence[int],
                   repeats: int,
                   warmup: int,
                   shape: Optional[Tuple[int, int]] = None,
                   threads: Optional[int] = None,
                   pair: Optional[Pair] = None,
                   work_dir: Optional[str] = None) -> List[dict]:
    """Forward time of both models of a pair under each backend, interleaved per model and batch.

    Every backend runs the same random batch (CPU); rows give ms per batch and the speed-up over
    PyTorch fp32 (``pytorch``, always included). A backend that fails on a model (stock DEKR's
    mmcv kernel has no bf16) gets an ``error`` row.
    """
    import tempfile
    pair = PAIRS[name] if pair is None else pair
    backends = _check_backends(backends)
    cfg = load_config(_config_path(pair.ours))
    cfg.merge_from_dict(pair.ours_options or {})
    h, w = shape if shape is not None else input_hw(cfg)
    rows: List[dict] = []
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for label, model_cfg in ((pair.ours_label, cfg), (pair.anchor_label,
                                                          load_config(pair.anchor))):
            model = build_model(model_cfg, device='cpu')
            if label == pair.anchor_label and pair.anchor_grid_sample:
                from mmpose_attn.models.layers import convert_deform_convs
                convert_deform_convs(model)
            onnx_file = export_for_backends(model, backends, tmp, 'model', (h, w))
            nets = {
                b: backend_network(model, b, onnx_file, threads, osp.join(tmp, 'ov'))
                for b in backends
            }
            for batch in batches:
                x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(0))
                with torch.no_grad():
                    fns = {b: (lambda n=n: n(x)) for b, n in nets.items()}
                    times, errors = _interleave_available(fns, repeats, warmup)
                for r in _rows(label, times, errors, 1.0, dict(batch=batch, input=(h, w))):
                    rows.append(r)
                    print(format_backend_row(r), flush=True)
            del nets, model
    return rows


def square_images(images: str, out_dir: str, size: int) -> List[str]:
    """Centre square crops of the images in ``images``, resized to ``size``: bottom-up inputs of
    one aspect, so that one ONNX input size fits them all."""
    import mmcv

    from mmpose_attn.apis import list_images, read_image
    paths = []
    for path in list_images(images):
        img = read_image(path)
        h, w = img.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        out = osp.join(out_dir, osp.basename(path))
        mmcv.imwrite(mmcv.imresize(img[y:y + s, x:x + s], (size, size)), out)
        paths.append(out)
    return paths


def bench_e2e_topdown(config: str,
                      anchor: str,
                      images: str,
                      bbox_file: str,
                      backends: Sequence[str],
                      batch: int,
                      repeats: int,
                      warmup: int,
                      threads: Optional[int] = None,
                      ann_file: Optional[str] = None,
                      bbox_thr: float = 0.3,
                      work_dir: Optional[str] = None) -> List[dict]:
    """Top-down crops/s end to end (read, crop, network with the config's flip test, decode)
    over ``images`` with boxes from ``bbox_file``, interleaved pass by pass.

    Rows: ``pytorch`` = the demo before crops were batched across images (PyTorch fp32, one
    image per batch, the baseline); each backend at ``batch`` crops per batch; and ``anchor``
    through mmpose's ``inference_topdown`` (PyTorch fp32, one image per call).
    """
    import tempfile
    import warnings

    from mmpose.apis import inference_topdown

    from mmpose_attn.apis import AttnPoseInferencer, CocoDetections, list_images, read_image
    backends = _check_backends(backends)
    detections = CocoDetections(bbox_file, ann_file)
    paths = list_images(images)
    rows: List[dict] = []
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp, warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random weights, warned at every build
        model = build_model(load_config(_config_path(config)), device='cpu')
        onnx_file = export_for_backends(model, backends, tmp, 'model',
                                        input_hw(load_config(_config_path(config))))
        infs = {}
        for b in backends:
            kind, precision = BACKENDS[b]
            infs[b] = (AttnPoseInferencer(
                _config_path(config),
                'none',
                device='cpu',
                detections=detections,
                backend=kind,
                onnx=onnx_file,
                precision=precision,
                threads=threads,
                cache_dir=osp.join(tmp, 'ov')), 1 if b == 'pytorch' else batch)
        anchor_model = None
        if anchor:
            from mmpose.apis import init_model
            anchor_cfg = load_config(anchor)
            from mmpose_attn.utils import remove_init_cfg
            remove_init_cfg(anchor_cfg.model)
            anchor_model = init_model(anchor_cfg, None, device='cpu')
        boxes = {p: detections.boxes_of_id(detections.image_id(p)) for p in paths}
        boxes = {p: b[b[:, 4] > bbox_thr] for p, b in boxes.items()}
        crops = sum(len(b) for b in boxes.values())
        imgs = {p: read_image(p) for p in paths}

        def run(inf, bs):
            for _ in inf(images, batch_size=bs, bbox_thr=bbox_thr):
                pass

        def run_anchor():
            for p in paths:
                if len(boxes[p]):
                    inference_topdown(anchor_model, imgs[p], boxes[p][:, :4], 'xyxy')

        fns = {b: (lambda i=i, bs=bs: run(i, bs)) for b, (i, bs) in infs.items()}
        if anchor_model is not None:
            fns['anchor'] = run_anchor
        with torch.no_grad():
            times, errors = _interleave_available(fns, repeats, warmup)
    label = osp.splitext(osp.basename(config))[0][:22]
    for r in _rows(label, times, errors, 1.0, dict(items=crops, item_name='crops')):
        r['what'] = ('mmpose inference_topdown ' + osp.basename(anchor)[:20]
                     if r['backend'] == 'anchor' else f'batch {infs[r["backend"]][1]}')
        rows.append(r)
        print(format_backend_row(r), flush=True)
    return rows


def bench_e2e_bottomup(config: str,
                       anchor: Optional[str],
                       images: str,
                       backends: Sequence[str],
                       batch: int,
                       repeats: int,
                       warmup: int,
                       threads: Optional[int] = None,
                       work_dir: Optional[str] = None) -> List[dict]:
    """Bottom-up images/s end to end (read, resize, network with the config's flip test, SPR
    decoding, pose NMS) on square crops of ``images`` at the codec input size, interleaved pass
    by pass; ``anchor`` (stock DEKR) runs in PyTorch fp32."""
    import tempfile
    import warnings

    from mmpose_attn.apis import AttnPoseInferencer
    backends = _check_backends(backends)
    cfg = load_config(_config_path(config))
    h, w = input_hw(cfg)
    rows: List[dict] = []
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        folder = osp.join(tmp, 'images')
        import os
        os.makedirs(folder)
        num = len(square_images(images, folder, h))
        model = build_model(cfg, device='cpu')
        onnx_file = export_for_backends(model, backends, tmp, 'model', (h, w))
        infs = {}
        for b in backends:
            kind, precision = BACKENDS[b]
            infs[b] = AttnPoseInferencer(
                _config_path(config),
                'none',
                device='cpu',
                backend=kind,
                onnx=onnx_file,
                precision=precision,
                threads=threads,
                cache_dir=osp.join(tmp, 'ov'))
        if anchor:
            infs['anchor'] = AttnPoseInferencer(anchor, 'none', device='cpu', precision='fp32')

        def run(inf):
            for _ in inf(folder, batch_size=batch):
                pass

        fns = {b: (lambda i=i: run(i)) for b, i in infs.items()}
        with torch.no_grad():
            times, errors = _interleave_available(fns, repeats, warmup)
    label = osp.splitext(osp.basename(config))[0][:22]
    for r in _rows(label, times, errors, 1.0, dict(items=num, item_name='images')):
        r['what'] = ('stock ' +
                     osp.basename(anchor)[:24] if r['backend'] == 'anchor' else f'batch {batch}')
        rows.append(r)
        print(format_backend_row(r), flush=True)
    return rows


# --- the command line ------------------------------------------------------------------------
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (see the module's usage)."""
    parser = argparse.ArgumentParser(
        description='Forward and end-to-end speed of our models next to stock mmpose, and of '
        'every backend against PyTorch fp32.')
    parser.add_argument(
        '--pairs',
        nargs='+',
        default=list(PAIRS),
        help=f'pairs to time, of {list(PAIRS)}, or "none"')
    parser.add_argument('--td-batches', type=int, nargs='+', default=[1, 8, 32])
    parser.add_argument('--bu-batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument(
        '--td-shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='top-down input override (default: codec, 256x192)')
    parser.add_argument(
        '--bu-shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='bottom-up input override (default: codec, 512x512)')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument(
        '--threads',
        type=int,
        default=2,
        help='torch.set_num_threads, and the ONNX Runtime / OpenVINO threads')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--predict-batch',
        type=int,
        default=None,
        help='images for the SAMKR predict timing (0: skip; default: 8 when a '
        'bottom-up pair is selected without --backends, else skipped)')
    parser.add_argument('--predict-repeats', type=int, default=3)
    parser.add_argument(
        '--multiscale',
        type=float,
        nargs='+',
        metavar='SCALE',
        help='also time SAMKR test_step on one 480x640 image with these extra '
        'test scales (e.g. 0.5 2.0) against single-scale')
    parser.add_argument(
        '--backends',
        nargs='+',
        metavar='BACKEND',
        help=f'time both models of each pair under these backends, of '
        f'{list(BACKENDS)}, interleaved with PyTorch fp32 (CPU; replaces the '
        'ours-vs-anchor forward rows)')
    parser.add_argument(
        '--e2e-images',
        metavar='DIR',
        help='with --backends: end to end over these images, top-down crops/s '
        '(needs --bbox-file) and bottom-up images/s (square crops)')
    parser.add_argument('--bbox-file', help='COCO detection json of --e2e-images (top-down)')
    parser.add_argument(
        '--ann-file',
        help='COCO annotation json mapping --e2e-images to the '
        'image ids of --bbox-file (default: ids from the file names)')
    parser.add_argument('--bbox-thr', type=float, default=0.3)
    parser.add_argument(
        '--e2e-batch',
        type=int,
        default=8,
        help='crops (top-down) / images (bottom-up) per batch of the backends')
    parser.add_argument('--e2e-repeats', type=int, default=3)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the benchmarks the arguments select; returns their rows by kind."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = [] if args.pairs == ['none'] else args.pairs
    for p in pairs:
        if p not in PAIRS:
            raise ValueError(f'--pairs: unknown pair {p!r}; choose from {list(PAIRS)} or none')
    if args.backends:
        _check_backends(args.backends)
        if args.device != 'cpu':
            raise ValueError('--backends times CPU runtimes: pass --device cpu')
    if args.e2e_images and not args.backends:
        raise ValueError('--e2e-images needs --backends (e.g. --backends pytorch openvino)')
    if args.e2e_images and any(PAIRS[p].top_down for p in pairs) and not args.bbox_file:
        raise ValueError('--e2e-images with a top-down pair needs --bbox-file FILE')
    import os

    from mmpose_attn.deployment.runtime import cpu_description
    load = os.getloadavg() if hasattr(os, 'getloadavg') else ()
    print(
        f'device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, '
        f'repeats {args.repeats}, warm-up {args.warmup}; times in ms as median [min, max]; '
        'ratio = ours / anchor (< 1: ours faster)',
        flush=True)
    print(
        f'CPU: {cpu_description()}; load average {" ".join(f"{x:.2f}" for x in load)}', flush=True)
    out = dict(forward=[], predict=None, backends=[], e2e=[])
    for p in pairs:
        td = PAIRS[p].top_down
        shape = args.td_shape if td else args.bu_shape
        shape = tuple(shape) if shape else None
        batches = args.td_batches if td else args.bu_batches
        if args.backends:
            out['backends'] += bench_backends(p, args.backends, batches, args.repeats, args.warmup,
                                              shape, args.threads)
        else:
            out['forward'] += bench_pair(p, batches, args.repeats, args.warmup, args.device, shape)
    for p in pairs if args.e2e_images else []:
        pair = PAIRS[p]
        if pair.top_down:
            out['e2e'] += bench_e2e_topdown(pair.ours, pair.anchor, args.e2e_images, args.bbox_file,
                                            args.backends, args.e2e_batch, args.e2e_repeats,
                                            args.warmup, args.threads, args.ann_file, args.bbox_thr)
        elif not pair.ours_options and not pair.anchor_grid_sample:
            out['e2e'] += bench_e2e_bottomup(pair.ours, pair.anchor, args.e2e_images, args.backends,
                                             args.e2e_batch, args.e2e_repeats, args.warmup,
                                             args.threads)
    predict_batch = args.predict_batch
    if predict_batch is None:
        # the predict timing is SAMKR's: only --pairs that include a bottom-up pair ask for it
        predict_batch = (8 if any(not PAIRS[p].top_down
                                  for p in pairs) and not args.backends else 0)
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
