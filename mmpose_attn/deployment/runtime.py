"""Run a pose estimator's network in another backend or precision under mmpose's decoding.

A *network forward* is a module that maps the preprocessed batch (N, 3, H, W) to the head's raw
outputs: ``(heatmaps, )`` for a top-down heatmap model, ``(heatmaps, displacements)`` for a
DEKR-style bottom-up model. :func:`install_network` makes it the estimator's backbone, removes the
neck and turns the head's layers into pass-throughs, so ``test_step``, flip test, multi-scale
test, ``head.predict``, the codec and pose NMS stay mmpose's, one code path for every backend:
PyTorch in bf16 (:class:`TorchForward`), ONNX Runtime (:mod:`.onnx`) and OpenVINO
(:mod:`.openvino`). :func:`use_backend` picks one from ``backend`` and ``precision``.
"""
import copy
import os
import platform
from typing import List, Optional, Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from .cpu_inference import prepare_for_cpu_inference

BACKENDS = ('pytorch', 'onnxruntime', 'openvino')
PRECISIONS = ('auto', 'fp32', 'bf16')

#: The layers a top-down heatmap head chains on ``feats[-1]`` (mmpose's ``HeatmapHead``:
#: deconv, conv, final; ours: upsample, conv, final).
TOPDOWN_HEAD_LAYERS = ('deconv_layers', 'upsample_layers', 'conv_layers', 'final_layer')


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
    shown = [f for f in ('avx2', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'amx_bf16', 'amx_tile')
             if f in flags]
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


def is_bottomup(model: nn.Module) -> bool:
    """True for a DEKR-style head (heatmap and displacement branches)."""
    head = getattr(model, 'head', None)
    return hasattr(head, 'heatmap_conv_layers') and hasattr(head, 'displacement_conv_layers')


def output_names(model: nn.Module) -> List[str]:
    """Names of the network outputs: ``heatmaps`` (+ ``displacements`` for bottom-up)."""
    return ['heatmaps', 'displacements'] if is_bottomup(model) else ['heatmaps']


def check_runnable(model: nn.Module) -> None:
    """Refuse a model whose head :func:`install_network` cannot bypass."""
    head = getattr(model, 'head', None)
    if is_bottomup(model) or any(isinstance(getattr(head, n, None), nn.Module)
                                 for n in TOPDOWN_HEAD_LAYERS):
        return
    raise ValueError(f'{type(model).__name__} with head {type(head).__name__}: other backends '
                     'run DEKR-style bottom-up heads (heatmap_conv_layers + '
                     'displacement_conv_layers) and top-down heatmap heads (' +
                     ', '.join(TOPDOWN_HEAD_LAYERS) + ')')


class SelectOutput(nn.Module):
    """Picks output ``index`` from the tuple a network forward packs as its one feature map."""

    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def forward(self, outputs: Sequence[Tensor]) -> Tensor:
        return outputs[self.index]


def install_network(model: nn.Module, network: nn.Module) -> nn.Module:
    """Make ``network`` the estimator's whole network, keeping mmpose's decoding, in place.

    The backbone becomes ``network``, the neck is removed; a bottom-up head's heatmap and
    displacement branches become :class:`SelectOutput` (0 and 1) of the packed outputs, a top-down
    head's layers become ``nn.Identity`` (its ``forward`` then returns the heatmaps it is given).

    Args:
        model: A pose estimator built from the config the network was made from.
        network: (N, 3, H, W) -> ``((heatmaps, displacements), )`` (bottom-up) or
            ``(heatmaps, )`` (top-down).

    Returns:
        nn.Module: ``model``, now for inference only.
    """
    check_runnable(model)
    model.backbone = network
    if getattr(model, 'neck', None) is not None:
        model.neck = None
    head = model.head
    if is_bottomup(model):
        head.heatmap_conv_layers = SelectOutput(0)
        head.displacement_conv_layers = SelectOutput(1)
    else:
        for name in TOPDOWN_HEAD_LAYERS:
            if isinstance(getattr(head, name, None), nn.Module):
                setattr(head, name, nn.Identity())
    return model.eval()


def check_input_shape(source: str, fixed: Sequence, x: Tensor) -> None:
    """Refuse a batch whose (C, H, W) differs from the file's fixed input (batch, C, H, W)."""
    if any(isinstance(d, int) and d > 0 and d != s for d, s in zip(fixed[1:], x.shape[1:])):
        raise ValueError(
            f'{source} was exported for input (batch, {", ".join(map(str, fixed[1:]))}), got '
            f'{tuple(x.shape)}: export it again with --shape {x.shape[2]} {x.shape[3]} '
            '(top-down: the codec input size; bottom-up: the codec input size rounded up to a '
            'multiple of 32 in the aspect of the image)')


def check_file_outputs(source: str, names: Sequence[str], model: nn.Module) -> None:
    """Refuse a file whose outputs are not those of ``model``'s kind."""
    want = list(output_names(model))
    if list(names) != want:
        kind = 'bottom-up' if is_bottomup(model) else 'top-down'
        raise ValueError(f'{source}: outputs {list(names)}, but the {kind} model '
                         f'{type(model.head).__name__} needs {want}: export this config with '
                         'tools/deployment/export_onnx.py')


def pack_outputs(outputs: Sequence[Tensor], bottomup: bool) -> tuple:
    """Backend outputs as the feature tuple :func:`install_network`'s head expects."""
    return (tuple(outputs), ) if bottomup else (outputs[0], )


class TorchForward(nn.Module):
    """The PyTorch network (backbone, neck, head layers) in bf16 autocast, channels_last.

    Outputs are returned in float32, contiguous, so decoding (numpy) is unchanged.

    Args:
        model (nn.Module): A copy of the pose estimator (it is kept whole).
        precision (str): ``'bf16'`` (autocast + channels_last) or ``'fp32'``.

    Shapes:
        (N, 3, H, W) -> as :func:`install_network` expects.
    """

    def __init__(self, model: nn.Module, precision: str = 'bf16'):
        super().__init__()
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
        return pack_outputs(out, self.bottomup)


def use_pytorch(model: nn.Module, precision: str = 'auto') -> nn.Module:
    """PyTorch at ``precision`` (see :func:`resolve_precision`); fp32 leaves ``model`` as it is."""
    device = next(model.parameters()).device
    asked = precision
    precision = resolve_precision('pytorch', precision, str(device))
    if precision == 'fp32':
        return model
    if asked == 'auto':
        try:
            check_runnable(model)
        except ValueError as e:  # auto: the fastest mode this model runs in, here fp32
            print_log(f'--precision auto: fp32 ({e})', logger='current')
            return model
    check_runnable(model)
    return install_network(model, TorchForward(copy.deepcopy(model).eval(), precision))


def use_backend(model: nn.Module, backend: str = 'pytorch', onnx_file: Optional[str] = None,
                precision: str = 'auto', threads: Optional[int] = None,
                cache_dir: Optional[str] = None) -> nn.Module:
    """Run ``model``'s network in ``backend`` at ``precision``, decoding unchanged, in place.

    Args:
        model: The pose estimator, built from the config ``onnx_file`` was exported from.
        backend: ``'pytorch'``, ``'onnxruntime'`` or ``'openvino'``.
        onnx_file: The file written by ``tools/deployment/export_onnx.py`` (ONNX Runtime and
            OpenVINO).
        precision: ``'auto'``, ``'fp32'`` or ``'bf16'`` (see :func:`resolve_precision`).
        threads: Runtime threads (ONNX Runtime, OpenVINO); ``None``: the runtime's default.
        cache_dir: OpenVINO's compiled-model cache (default: see
            :func:`mmpose_attn.deployment.openvino.default_cache_dir`).
    """
    if backend == 'pytorch':
        return use_pytorch(model, precision)
    precision = resolve_precision(backend, precision)  # errors before anything is loaded
    if not onnx_file or not os.path.isfile(onnx_file):
        raise FileNotFoundError(
            f'--backend {backend} needs --onnx FILE (an existing file written by '
            f'tools/deployment/export_onnx.py), got --onnx {onnx_file!r}')
    if backend == 'onnxruntime':
        from .onnx import use_onnxruntime
        return use_onnxruntime(model, onnx_file, threads=threads)
    from .openvino import use_openvino
    return use_openvino(model, onnx_file, precision=precision, threads=threads,
                        cache_dir=cache_dir)
