"""One check of the GPU path: CUDA parity, training speed/memory (fp32 and AMP), inference
latency against the stock models, batched bottom-up prediction, the multi-scale test's cost and a
one-GPU NCCL launch.

Each section runs on its own: an exception is recorded under the section's ``error`` and the
next section still runs. ``quick=True`` (with ``device='cpu'``) uses tiny inputs, batch 2 and
few iterations and small stand-in models (the synthetic
ESAM-R18 and SAMKR-W18-small configs) so CI can run every section's code; the CUDA-only parts
(mmcv's CUDA kernel, NCCL) are then skipped with a recorded reason, and "AMP" is bf16 autocast on
CPU (mmengine's ``AmpOptimWrapper`` asserts CUDA).

Training rows time ``optim_wrapper.update_params`` on the tensor forward (backbone, neck, head)
with random inputs and a surrogate loss (mean square of every head output): the network's
forward, backward and SGD step, without data pipeline or target encoding.

Usage (from the checkout root; this file imports ``benchmark.py`` and ``metafile.py`` beside it)::

    python tools/analysis_tools/gpu_check.py --out gpu_check.json              # on a GPU
    python tools/analysis_tools/gpu_check.py --device cpu --quick --out r.json # CI's quick mode
    python tools/analysis_tools/gpu_check.py --from-json gpu_check.json --markdown gpu.md

The JSON is rewritten after every section, so a run stopped by a time limit keeps what it
measured; ``--from-json`` renders an earlier run and runs nothing.
"""
import argparse
import datetime
import json
import math
import os
import os.path as osp
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable, Dict, List, Optional, Tuple

import torch

from metafile import REPO_ROOT
from mmpose_attn.engine.atomic_io import atomic_write
from mmpose_attn.utils import build_model, synchronize


def paper_latency_ms() -> dict:
    """SAMKR Table 6: W48 forward latency (ms) of DEKR and SAMKR, from the metafiles."""
    from metafile import paper_numbers
    papers = paper_numbers()
    return {
        'DEKR-W48': papers['dekr_hrnet-w48_8xb10-140e_coco-640x640']['inference_ms'],
        'SAMKR-W48': papers['samkr_hrnet-w48_8xb10-140e_coco-640x640']['inference_ms'],
        'hardware': 'RTX 3090'
    }


CONFIGS = dict(
    esam_r50='configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py',
    simplebaseline_r50='mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_res50_8xb64-210e_coco-256x192.py',
    samkr_w32='configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py',
    dekr_w32='mmpose::body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512.py',
    samkr_w48='configs/samkr/coco/samkr_hrnet-w48_8xb10-140e_coco-640x640.py',
    dekr_w48='mmpose::body_2d_keypoint/dekr/coco/dekr_hrnet-w48_8xb10-140e_coco-640x640.py',
    dist='configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py',
    # quick mode's small stand-ins (CPU CI): the synthetic ESAM-R18 and SAMKR-W18-small
    quick_td='configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py',
    quick_bu='configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py')


def _path(cfg: str) -> str:
    return cfg if '::' in cfg or osp.isabs(cfg) else osp.join(REPO_ROOT, cfg)


def _build(name: str, device: str) -> torch.nn.Module:
    import mmpose_attn  # noqa: F401  (registers our models)
    return build_model(_path(CONFIGS[name]), device=device, train=True)


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (0 when both vanish)."""
    a, b = a.double(), b.double()
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / scale if scale > 0 else (a - b).abs().max().item()


def _amp_ctx(device: str):
    from mmengine.runner import autocast
    if device.startswith('cuda'):
        return autocast(device_type='cuda', dtype=torch.float16)
    return autocast(device_type='cpu', dtype=torch.bfloat16)


# --- parity ---------------------------------------------------------------------------------
def parity_deform_conv(device: str, quick: bool) -> dict:
    """GridSampleDeformConv2d vs mmcv's DeformConv2d kernel: forward and the three gradients."""
    from mmcv.ops import get_compiling_cuda_version

    from mmpose_attn.models.layers import GridSampleDeformConv2d
    if device.startswith('cuda') and get_compiling_cuda_version() == 'not available':
        return dict(skipped='this mmcv has no CUDA ops (tools/install.sh builds them)')
    torch.manual_seed(0)
    c, g, h = (34, 17, 16) if quick else (272, 17, 64)
    conv = GridSampleDeformConv2d(
        c, c, 3, padding=1, groups=g, deform_groups=g, impl='mmcv').to(device)
    x = torch.randn(2, c, h, h, device=device, requires_grad=True)
    off = (2 * torch.randn(2, 2 * g * 9, h, h, device=device)).requires_grad_()
    res = {}
    outs = {}
    for impl in ('mmcv', 'grid_sample'):
        conv.impl = impl
        for t in (x, off, conv.weight):
            t.grad = None
        y = conv(x, off)
        y.square().sum().backward()
        outs[impl] = (y.detach(), x.grad.clone(), conv.weight.grad.clone(), off.grad.clone())
    for i, k in enumerate(('forward', 'grad_input', 'grad_weight', 'grad_offset')):
        res[k] = _rel_err(outs['grid_sample'][i], outs['mmcv'][i])
    res['kernel'] = f'mmcv {"CUDA" if device.startswith("cuda") else "CPU"}'
    return res


def parity_ulsam(device: str, quick: bool) -> dict:
    """ULSAM under autocast (fp16 on CUDA, bf16 on CPU) vs fp32, on SAMKR's size.

    The input is in the autocast dtype, as the preceding conv hands it over; ``unguarded_rel_err``
    is the same run without ULSAM's fp32 guard (``_attend`` called directly), its output rounded
    to the autocast dtype as the guarded one is, so the two differ only inside ULSAM.
    """
    from mmpose_attn.models.layers import ULSAM
    torch.manual_seed(0)
    h = 16 if quick else 128
    m = ULSAM(272, 8).to(device)
    x = torch.randn(2, 272, h, h, device=device)
    dtype = torch.float16 if device.startswith('cuda') else torch.bfloat16
    with torch.no_grad():
        ref = m(x)
        with _amp_ctx(device):
            low = m(x.to(dtype))
            unguarded = m._attend(x.to(dtype))
    return dict(
        rel_err=_rel_err(low.float(), ref),
        finite=bool(torch.isfinite(low).all()),
        unguarded_rel_err=_rel_err(unguarded.to(dtype).float(), ref),
        unguarded_finite=bool(torch.isfinite(unguarded).all()),
        dtype=str(dtype).replace('torch.', ''))


def parity_swahr(device: str, quick: bool) -> dict:
    """SWAHR loss (heatmap + scale terms) under autocast vs fp32."""
    from mmpose_attn.models.losses import SWAHRLoss
    torch.manual_seed(0)
    h = 16 if quick else 128
    loss = SWAHRLoss()
    out = torch.rand(2, 18, h, h, device=device)
    tgt = torch.rand(2, 18, h, h, device=device)
    scale = torch.rand(2, 18, h, h, device=device) * 0.2 - 0.1
    w = torch.ones(2, 18, device=device)
    ref = loss(out, tgt, w, scale=scale)
    with _amp_ctx(device):
        low = loss(out.half() if device.startswith('cuda') else out.bfloat16(), tgt, w, scale=scale)
    return dict(
        fp32=ref.item(),
        amp=low.float().item(),
        rel_err=abs(low.item() - ref.item()) / abs(ref.item()),
        finite=math.isfinite(low.item()))


# --- training -------------------------------------------------------------------------------
def _surrogate(out) -> torch.Tensor:
    outs = out if isinstance(out, (tuple, list)) else [out]
    return sum(o.float().square().mean() for o in outs if isinstance(o, torch.Tensor))


def train_speed(name: str, batch: int, hw, iters: int, amp: bool, device: str) -> dict:
    """Iterations/s and peak memory of ``iters`` training steps (after 2 warm-up steps)."""
    res = _train_steps(name, batch, hw, iters, amp, device)
    # the model and optimizer were freed with _train_steps' frame: give their memory back
    if device.startswith('cuda'):
        torch.cuda.empty_cache()
    return res


def _train_steps(name: str, batch: int, hw, iters: int, amp: bool, device: str) -> dict:
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    model = _build(name, device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    cuda = device.startswith('cuda')
    wrapper = AmpOptimWrapper(optimizer=opt) if (amp and cuda) else OptimWrapper(optimizer=opt)
    x = torch.randn(batch, 3, *hw, device=device)
    losses = []

    def step():
        if amp and not cuda:
            with _amp_ctx(device):
                loss = _surrogate(model._forward(x))
        else:
            with wrapper.optim_context(model):
                loss = _surrogate(model._forward(x))
        wrapper.update_params(loss)
        losses.append(loss.item())

    for _ in range(2):
        step()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    synchronize(device)
    dt = time.perf_counter() - t0
    mem = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    return dict(
        model=name,
        batch=batch,
        input=list(hw),
        amp=amp,
        iters=iters,
        iters_per_s=iters / dt,
        peak_mem_mib=mem,
        losses_finite=all(math.isfinite(v) for v in losses))


# --- inference (benchmark.py's timing) -------------------------------------------------------
def _pairs() -> dict:
    """The check's own pairs (quick stand-ins, W48) next to the benchmark's."""
    from benchmark import Pair
    pairs = {
        f'quick-{k}':
        Pair(CONFIGS[f'quick_{k}'], CONFIGS[f'quick_{k}'], f'quick-{k}', f'quick-{k}', k == 'td')
        for k in ('td', 'bu')
    }
    pairs['samkr-w48'] = Pair(CONFIGS['samkr_w48'], CONFIGS['dekr_w48'], 'SAMKR-W48', 'DEKR-W48',
                              False)
    return pairs


def _slim(r: dict) -> dict:
    return dict(
        pair=r['pair'],
        batch=r['batch'],
        input=list(r['input']),
        ours_ms=r['ours'][0] * 1e3,
        anchor_ms=r['anchor'][0] * 1e3,
        ratio=r['ratio_median'],
        noise=list(r['noise']))


# --- the check ------------------------------------------------------------------------------
def _section(results: dict,
             key: str,
             fn: Callable[[], object],
             on_section: Optional[Callable[[dict], None]] = None) -> None:
    t0 = time.perf_counter()
    try:
        results[key] = fn()
    except Exception as e:  # one broken section must not hide the others
        results[key] = dict(error=f'{type(e).__name__}: {e}', traceback=traceback.format_exc())
    if isinstance(results[key], dict):
        results[key]['seconds'] = time.perf_counter() - t0
    print(f'[gpu_check] {key}: {time.perf_counter() - t0:.1f} s', file=sys.stderr, flush=True)
    if on_section is not None:
        on_section(results)


def _kill_processes_with_env(key: str, value: str) -> None:
    """SIGKILL every process whose environment has ``key=value`` (Linux ``/proc``)."""
    entry = f'{key}={value}'.encode()
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                if entry in f.read().split(b'\0'):
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours to read
            continue


def dist_train(device: str, timeout: float = 240) -> dict:
    """``tools/dist_train.sh CONFIG 1`` (NCCL): one epoch of 4 iterations on a synthetic dataset."""
    if not device.startswith('cuda'):
        return dict(skipped='NCCL needs CUDA')
    with tempfile.TemporaryDirectory() as tmp:
        from mmpose_attn.datasets.synthetic import make_dataset
        make_dataset(osp.join(tmp, 'data'), dataset='coco', train_images=64, val_images=4)
        d = osp.join(tmp, 'data')
        cmd = [
            'bash',
            osp.join(REPO_ROOT, 'tools', 'dist_train.sh'),
            _path(CONFIGS['dist']), '1', '--work-dir',
            osp.join(tmp, 'work'), '--cfg-options', f'train_dataloader.dataset.data_root={d}',
            f'val_dataloader.dataset.data_root={d}', f'test_dataloader.dataset.data_root={d}',
            'train_cfg.max_epochs=1', 'train_dataloader.batch_size=16',
            'default_hooks.logger.interval=1'
        ]
        # this interpreter, not whichever python is first on PATH
        # NCCL_DEBUG=INFO: NCCL's own "NCCL INFO" lines show that NCCL itself ran
        env = dict(
            os.environ,
            PORT=os.environ.get('PORT', '29517'),
            PYTHON=sys.executable,
            NCCL_DEBUG='INFO')
        t0 = time.perf_counter()
        # a hung launch is killed with its workers: torchrun starts them in sessions of their
        # own, and without torchrun's store they go on waiting for it (and hold the GPU)
        marker = f'{os.getpid()}-{time.time_ns()}'
        env['MMPOSE_ATTN_GPU_CHECK_RUN'] = marker
        p = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True)
        try:
            log, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            _kill_processes_with_env('MMPOSE_ATTN_GPU_CHECK_RUN', marker)
            log, _ = p.communicate()
            log += f'\n[gpu_check] killed after {timeout} s'
        version = [ln.strip() for ln in log.splitlines() if 'NCCL version' in ln]
        return dict(
            rc=p.returncode,
            wall_s=time.perf_counter() - t0,
            nccl='NCCL INFO' in log,
            nccl_version=version[0] if version else None,
            tail=log[-2000:])


def run_check(device: str = 'cuda',
              quick: bool = False,
              on_section: Optional[Callable[[dict], None]] = None) -> dict:
    """All sections; returns the JSON-able result dict.

    Args:
        device (str): ``'cuda'`` (or ``'cuda:N'``) for the real check, ``'cpu'`` with ``quick``.
        quick (bool): Tiny inputs and stand-in models (CI).
        on_section (callable, optional): Called with the results so far after each section, so a
            run stopped by a time limit still leaves what it measured.
    """
    q = quick
    res: Dict[str, object] = dict(
        device=device,
        quick=q,
        torch=torch.__version__,
        date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d'),
        gpu=torch.cuda.get_device_name(0) if device.startswith('cuda') else None,
        paper_latency_ms=paper_latency_ms())
    _section(res, 'parity_deform_conv', lambda: parity_deform_conv(device, q), on_section)
    _section(res, 'parity_ulsam', lambda: parity_ulsam(device, q), on_section)
    _section(res, 'parity_swahr', lambda: parity_swahr(device, q), on_section)
    td_hw, bu_hw = ((64, 48), (64, 64)) if q else ((256, 192), (512, 512))
    iters = 1 if q else 30
    rows: List[dict] = []
    train_pairs = ((('quick_td', 'quick_td', 2, td_hw), ('quick_bu', 'quick_bu', 2,
                                                         bu_hw)) if q else
                   (('esam_r50', 'simplebaseline_r50', 64, td_hw), ('samkr_w32', 'dekr_w32', 10,
                                                                    bu_hw)))

    def train():
        for ours, anchor, batch, hw in train_pairs:
            for amp in (False, True):
                for role, name in (('ours', ours), ('stock', anchor)):
                    try:
                        row = train_speed(name, batch, hw, iters, amp, device)
                    except Exception as e:
                        row = dict(model=name, amp=amp, error=f'{type(e).__name__}: {e}')
                    rows.append(dict(row, role=role, pair=f'{ours} vs {anchor}'))
        return dict(rows=rows)

    _section(res, 'training', train, on_section)

    def inference():
        import benchmark
        own = _pairs()
        rep, warm = (1, 0) if q else (10, 3)
        out = []
        pairs = ((('quick-td', [1, 2], td_hw), ('quick-bu', [1, 2], bu_hw)) if q else
                 (('esam-r50', [1, 32], td_hw), ('samkr-w32', [1, 8], bu_hw), ('samkr-w48', [1, 8],
                                                                               (640, 640))))
        for pair, batches, shape in pairs:
            out += [
                _slim(r) for r in benchmark.bench_pair(
                    pair, batches, rep, warm, device, shape, pair=own.get(pair))
            ]
        return dict(rows=out)

    _section(res, 'inference', inference, on_section)

    def predict():
        from benchmark import bench_predict
        n = 2 if q else 8
        r = bench_predict(n, 1 if q else 3, 0 if q else 1, device, (64, 64) if q else None,
                          _path(CONFIGS['quick_bu' if q else 'samkr_w32']))
        return dict(
            batch=n,
            speedup=r['speedup'],
            batched_s=r['batched'][0],
            loop_s=r['loop'][0],
            target=3.0)

    _section(res, 'predict', predict, on_section)

    def multiscale():
        # the README's multi-scale example (scales 1, 0.5, 2) on a COCO-sized image
        from benchmark import bench_multiscale
        r = bench_multiscale([0.5] if q else [0.5, 2.0], 1 if q else 5, 0 if q else 2, device,
                             (96, 128) if q else (480, 640),
                             _path(CONFIGS['quick_bu' if q else 'samkr_w32']))
        return dict(r, single_s=r['single'][0], multi_s=r['multi'][0])

    _section(res, 'multiscale', multiscale, on_section)
    _section(res, 'dist_train', lambda: dist_train(device), on_section)
    return res


def _report(res: dict) -> List[object]:
    """The result as a list of text lines and ``(header, rows)`` tables, in print order."""
    out: List[object] = [
        f'{res.get("date", "")} device {res["device"]} ({res.get("gpu") or "cpu"}), '
        f'torch {res["torch"]}, quick={res["quick"]}'
    ]

    def failed(key) -> bool:
        r = res.get(key)
        if r is None:
            out.append(f'{key}: not run')
        elif 'error' in r:
            out.append(f'{key}: ERROR {r["error"]}')
        elif 'skipped' in r:
            out.append(f'{key}: skipped ({r["skipped"]})')
        return r is None or 'error' in r or 'skipped' in r

    parity = []
    if not failed('parity_deform_conv'):
        r = res['parity_deform_conv']
        parity += [(f'deform conv grid_sample vs {r["kernel"]}: {k.replace("_", " ")}', 'fp32',
                    f'{r[k]:.2e}') for k in ('forward', 'grad_input', 'grad_weight', 'grad_offset')]
    if not failed('parity_ulsam'):
        r = res['parity_ulsam']
        parity += [
            ('ULSAM (fp32 inside autocast)', r['dtype'], f'{r["rel_err"]:.2e}'),
            ('ULSAM without its fp32 guard', r['dtype'],
             f'{r["unguarded_rel_err"]:.2e}' + ('' if r['unguarded_finite'] else ' (non-finite)'))
        ]
    if not failed('parity_swahr'):
        r = res['parity_swahr']
        parity.append(
            (f'SWAHR loss ({r["amp"]:.6f} vs {r["fp32"]:.6f})', 'autocast', f'{r["rel_err"]:.2e}'))
    if parity:
        out.append((('parity', 'precision', 'rel. error vs fp32'), parity))

    if not failed('training'):
        by_key: Dict[Tuple[str, bool], Dict[str, dict]] = {}
        for x in res['training']['rows']:
            by_key.setdefault((x['pair'], x['amp']), {})[x['role']] = x

        def cell(x, key, fmt):
            if x is None or 'error' in x:
                return 'ERROR' if x is not None else '-'
            return '-' if x[key] is None else fmt.format(x[key])

        rows = []
        for (pair, amp), d in by_key.items():
            o, a = d.get('ours'), d.get('stock')
            ok = o is not None and a is not None and 'error' not in o and 'error' not in a
            shape = o or a
            rows.append((pair, 'AMP' if amp else 'fp32', str(shape.get('batch', '-')),
                         'x'.join(map(str, shape.get('input', [])))
                         or '-', cell(o, 'iters_per_s', '{:.2f}'), cell(a, 'iters_per_s', '{:.2f}'),
                         f'{o["iters_per_s"] / a["iters_per_s"]:.3f}' if ok else '-',
                         cell(o, 'peak_mem_mib', '{:.0f}'), cell(a, 'peak_mem_mib', '{:.0f}')))
        out.append((('training (ours vs stock)', 'precision', 'batch', 'input', 'ours it/s',
                     'stock it/s', 'it/s ratio', 'ours peak MiB', 'stock peak MiB'), rows))
        for x in res['training']['rows']:
            if 'error' in x:
                out.append(f'training {x["model"]} amp={x["amp"]}: ERROR {x["error"]}')

    if not failed('inference'):
        out.append((('forward latency', 'batch', 'input', 'ours ms', 'stock ms', 'ratio'), [
            (x['pair'], str(x['batch']), f'{x["input"][0]}x{x["input"][1]}', f'{x["ours_ms"]:.1f}',
             f'{x["anchor_ms"]:.1f}', f'{x["ratio"]:.3f}') for x in res['inference']['rows']
        ]))
    p = res['paper_latency_ms']
    out.append(f'paper Table 6 ({p["hardware"]}): DEKR-W48 {p["DEKR-W48"]} ms, SAMKR-W48 '
               f'{p["SAMKR-W48"]} ms, ratio {p["SAMKR-W48"] / p["DEKR-W48"]:.3f}')
    if not failed('predict'):
        r = res['predict']
        out.append(f'bottom-up predict batch {r["batch"]} vs {r["batch"]} x batch 1: '
                   f'{r["speedup"]:.2f}x throughput (target >= {r["target"]}x)')
    if not failed('multiscale'):
        r = res['multiscale']
        out.append(f'multi-scale test, scales {[1.0] + r["aug_scales"]} (inputs ' +
                   ', '.join(f'{h}x{w}' for h, w in r['scale_inputs']) +
                   f') vs single-scale, one {r["image"][0]}x{r["image"][1]} image, flip '
                   f'{r["flip_test"]}: {r["multi_s"] * 1e3:.1f} vs {r["single_s"] * 1e3:.1f} ms '
                   f'({r["ratio"]:.2f}x)')
    if not failed('dist_train'):
        r = res['dist_train']
        out.append(
            f'dist_train.sh 1 GPU: rc {r["rc"]}, {r["wall_s"]:.0f} s, NCCL ran: {r["nccl"]}' +
            (f' ({r["nccl_version"]})' if r.get('nccl_version') else ''))
    return out


def format_table(res: dict, markdown: bool = False) -> str:
    """The result as plain text (aligned columns) or as Markdown (pipe tables)."""
    lines: List[str] = []
    for item in _report(res):
        if isinstance(item, str):
            lines.append(f'{item}  ' if markdown else item)  # two spaces: a Markdown line break
            continue
        header, rows = item
        if markdown:
            lines += ['', '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
            lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
            lines.append('')
        else:
            w = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
            lines += [
                '  '.join(str(c).ljust(n) for c, n in zip(r, w)).rstrip() for r in (header, *rows)
            ]
    return '\n'.join(lines)


def main(argv=None) -> dict:
    """Run the check (or render ``--from-json``), print the table; returns the results."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--quick', action='store_true', help='tiny inputs, few iterations')
    p.add_argument('--out', default='gpu_check.json', help='JSON file to write')
    p.add_argument(
        '--from-json', metavar='JSON', help='render the result of an earlier run; '
        'runs nothing')
    p.add_argument('--markdown', metavar='FILE', help='also write the tables as Markdown')
    args = p.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            res = json.load(f)
    else:
        # rewritten whole after every section: never a half-written file
        res = run_check(
            args.device,
            args.quick,
            on_section=lambda r: atomic_write(json.dumps(r, indent=1), args.out))
    print(format_table(res))
    if args.markdown:
        atomic_write(format_table(res, markdown=True) + '\n', args.markdown)
    return res


if __name__ == '__main__':
    main()
