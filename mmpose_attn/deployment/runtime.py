"""The one entry point of the backends: which runs a pose network, at which precision.

:data:`BACKENDS`, :data:`PRECISIONS`, the precision policy (:func:`resolve_precision`, from the
CPU's bf16 instructions) and :func:`use_backend`, which puts the network of a built estimator on
PyTorch bf16 (:class:`TorchForward`), ONNX Runtime (:mod:`.onnxruntime_backend`) or OpenVINO
(:mod:`.openvino_backend`) through :func:`~.base.install_network`: mmpose's decoding, flip and
multi-scale test and pose NMS stay as they are, one code path for every backend.
"""
import copy
import os
import platform
from typing import Optional

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from .base import (check_finite, check_runnable, check_threads, install_network, is_bottomup,
                   output_names, pack_outputs, warn)
from .cpu_inference import prepare_for_cpu_inference

BACKENDS = ('pytorch', 'onnxruntime', 'openvino')

PRECISIONS = ('auto', 'fp32', 'bf16')


def cpu_flags() -> set:
    """The CPU feature flags of ``/proc/cpuinfo`` (``flags`` on x86, ``Features`` on Arm); empty
    where there is no such file."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() in ('flags', 'Features'):
                    return set(value.split())
    except OSError:
        pass
    return set()


def cpu_has_bf16() -> bool:
    """True where the CPU computes bf16 in hardware (x86 ``avx512_bf16`` or ``amx_bf16``, Arm
    ``bf16``): there bf16 is faster than fp32; elsewhere it is emulated and slower."""
    flags = cpu_flags()
    if not flags and platform.system() != 'Linux':
        return False
    return bool(flags & {'avx512_bf16', 'amx_bf16', 'bf16'})


#: The CPU flags that compute bf16 in hardware (see :func:`cpu_has_bf16`).
BF16_FLAGS = ('avx512_bf16', 'amx_bf16', 'bf16')


def warn_emulated_bf16(backend: str = 'PyTorch') -> Optional[str]:
    """Warn (once per model set up) that ``--precision bf16`` asked of ``backend`` runs emulated
    on this CPU.

    PyTorch computes bf16 without bf16 instructions in software, with bf16's rounding and slower
    than fp32; it is kept, not refused as OpenVINO refuses it,
    because it still shows bf16's accuracy on any machine. Returns the message, ``None`` where
    the CPU has bf16 instructions.
    """
    if cpu_has_bf16():
        return None
    flags = cpu_flags()
    simd = [f for f in ('avx2', 'avx512f', 'avx512_vnni') if f in flags]
    msg = (f'--precision bf16: this CPU has no bf16 instructions (none of '
           f'{", ".join(BF16_FLAGS)} among its /proc/cpuinfo flags; it has '
           f'{" ".join(simd) or "none of avx2, avx512f, avx512_vnni"}), so {backend} emulates '
           'bf16: bf16 rounding at a speed below fp32\'s. Use --precision auto or fp32 for speed '
           '(OpenVINO refuses bf16 on such a CPU).')
    warn(msg, EmulatedBF16Warning)
    return msg


class EmulatedBF16Warning(UserWarning):
    """bf16 asked of PyTorch on a CPU without bf16 instructions (emulated, slower than fp32)."""


def cpu_description() -> str:
    """CPU model name, core count and its bf16-relevant flags, for benchmark reports."""
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    name = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    flags = cpu_flags()
    shown = [
        f for f in ('avx2', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'amx_bf16', 'amx_tile')
        if f in flags
    ]
    return (f'{name}, {os.cpu_count()} logical cores, flags: {" ".join(shown) or "n/a"} '
            f'({"has" if "amx_bf16" in flags else "no"} AMX)')


def resolve_precision(backend: str, precision: str = 'auto', device: str = 'cpu') -> str:
    """The precision ``backend`` runs in: ``'fp32'``, ``'bf16'``, or ``'auto'`` kept for OpenVINO
    (its own default: bf16 where the CPU has bf16 instructions, else f32).

    ``auto`` on PyTorch is bf16 autocast + channels_last on a CPU with bf16 instructions
    (:func:`cpu_has_bf16`), fp32 elsewhere (on CUDA too); on ONNX Runtime it is fp32 (its CPU
    provider has no bf16 convolutions).
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend {backend!r}: choose one of {", ".join(BACKENDS)}')
    if precision not in PRECISIONS:
        raise ValueError(f'precision {precision!r}: choose one of {", ".join(PRECISIONS)}')
    if backend == 'onnxruntime':
        if precision == 'bf16':
            raise ValueError('--precision bf16: ONNX Runtime\'s CPU provider has no bf16 '
                             'convolutions; use --backend openvino or pytorch for bf16, or '
                             '--precision fp32/auto')
        return 'fp32'
    if backend == 'openvino':
        return precision
    if precision == 'auto':
        return 'bf16' if str(device).startswith('cpu') and cpu_has_bf16() else 'fp32'
    return precision


class TorchForward(nn.Module):
    """The PyTorch network (backbone, neck, head layers) in bf16 autocast, channels_last.

    Outputs are returned in float32, contiguous, so decoding (numpy) is unchanged.

    Args:
        model (nn.Module): A copy of the pose estimator (it is kept whole).
        precision (str): ``'bf16'`` (autocast + channels_last) or ``'fp32'``.
        source (str, optional): Where the weights came from (a checkpoint), named when the
            outputs are not finite.

    Shapes:
        (N, 3, H, W) -> as :func:`install_network` expects.
    """

    def __init__(self, model: nn.Module, precision: str = 'bf16', source: Optional[str] = None):
        super().__init__()
        self.source = source or 'the PyTorch model (its checkpoint)'
        if precision not in ('bf16', 'fp32'):
            raise ValueError(f'TorchForward precision {precision!r}: bf16 or fp32')
        self.model = model
        self.precision = precision
        self.bottomup = is_bottomup(model)
        if precision == 'bf16':
            if next(model.parameters()).device.type == 'cpu':
                # stock DEKR's mmcv deform convs take neither bf16 nor channels_last on CPU
                prepare_for_cpu_inference(self.model, 'bf16')
            else:
                self.model.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> tuple:
        if self.precision == 'fp32':
            out = self.model._forward(x)
        else:
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                out = self.model._forward(x.contiguous(memory_format=torch.channels_last))
        out = tuple(out) if isinstance(out, (list, tuple)) else (out, )
        out = [o.float().contiguous() for o in out]
        check_finite(self.source, out, output_names(self.model),
                     f'network output (PyTorch {self.precision})')
        return pack_outputs(out, self.bottomup)


def use_pytorch(model: nn.Module,
                precision: str = 'auto',
                source: Optional[str] = None) -> nn.Module:
    """PyTorch at ``precision`` (see :func:`resolve_precision`); fp32 leaves ``model`` as it is.

    ``bf16`` asked on a CPU without bf16 instructions runs emulated, with a warning
    (:func:`warn_emulated_bf16`). ``source`` names the weights in the non-finite-output error.
    """
    device = next(model.parameters()).device
    asked = precision
    precision = resolve_precision('pytorch', precision, str(device))
    if precision == 'fp32':
        return model
    if asked == 'bf16' and device.type == 'cpu':
        warn_emulated_bf16('PyTorch')
    if asked == 'auto':
        try:
            check_runnable(model)
        except ValueError as e:  # auto: the fastest mode this model runs in, here fp32
            print_log(f'--precision auto: fp32 ({e})', logger='current')
            return model
    check_runnable(model)
    return install_network(model, TorchForward(copy.deepcopy(model).eval(), precision, source))


def use_backend(model: nn.Module,
                backend: str = 'pytorch',
                onnx_file: Optional[str] = None,
                precision: str = 'auto',
                threads: Optional[int] = None,
                cache_dir: Optional[str] = None,
                source: Optional[str] = None) -> nn.Module:
    """Run ``model``'s network in ``backend`` at ``precision``, decoding unchanged, in place.

    An ONNX file is checked when it is opened: its graph against the sha256 in its metadata, its
    metadata (kind, outputs, keypoints, codec and input sizes) and output shapes against
    ``model``'s config (:func:`open_checks`); every run refuses non-finite outputs.

    Args:
        model: The pose estimator, built from the config ``onnx_file`` was exported from.
        backend: ``'pytorch'``, ``'onnxruntime'`` or ``'openvino'``.
        onnx_file: The file written by ``tools/deployment/export_onnx.py`` (ONNX Runtime and
            OpenVINO).
        precision: ``'auto'``, ``'fp32'`` or ``'bf16'`` (see :func:`resolve_precision`).
        threads: Runtime threads (ONNX Runtime, OpenVINO); ``None``: the runtime's default.
        cache_dir: OpenVINO's compiled-model cache (default: see
            :func:`mmpose_attn.deployment.openvino_backend.default_cache_dir`).
        source: The checkpoint the PyTorch weights came from (named in errors).
    """
    if backend == 'pytorch':
        return use_pytorch(model, precision, source)
    precision = resolve_precision(backend, precision)  # errors before anything is loaded
    threads = check_threads(threads)
    if not onnx_file or not os.path.isfile(onnx_file):
        raise FileNotFoundError(
            f'--backend {backend} needs --onnx FILE (an existing file written by '
            f'tools/deployment/export_onnx.py), got --onnx {onnx_file!r}')
    if backend == 'onnxruntime':
        from .onnxruntime_backend import use_onnxruntime
        return use_onnxruntime(model, onnx_file, threads=threads)
    from .openvino_backend import use_openvino
    return use_openvino(model, onnx_file, precision=precision, threads=threads, cache_dir=cache_dir)
