"""OpenVINO as a backend: the ONNX file of :func:`.onnx.export_onnx`, compiled for the CPU.

OpenVINO reads the ONNX file directly and keeps the compiled model in a cache directory, so a
second start skips compilation. ``precision='auto'`` keeps OpenVINO's own choice (bf16 on a CPU
with bf16 instructions, f32 elsewhere); ``'fp32'`` and ``'bf16'`` set its inference precision
hint. ``openvino`` is an optional extra, imported only here.
"""
import os
import os.path as osp
from typing import Optional

import numpy as np
import torch
from torch import Tensor, nn

from .runtime import (check_file_outputs, check_input_shape, check_runnable, install_network,
                      is_bottomup, pack_outputs)

#: OpenVINO's names of our precisions (``INFERENCE_PRECISION_HINT``).
OV_PRECISION = {'fp32': 'f32', 'bf16': 'bf16'}


def require_openvino():
    """Import ``openvino`` or fail with one line saying how to install it."""
    try:
        import openvino
    except ImportError as e:
        raise ImportError(f'--backend openvino needs the optional package openvino ({e}); '
                          'install it with `pip install -r requirements/optional.txt` '
                          '(or `pip install openvino`)') from e
    return openvino


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/mmpose_attn/openvino`` (``~/.cache/...``): compiled models by file."""
    root = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
    return osp.join(root, 'mmpose_attn', 'openvino')


def compile_onnx(onnx_file: str, precision: str = 'auto', threads: Optional[int] = None,
                 cache_dir: Optional[str] = None, device: str = 'CPU'):
    """Read ``onnx_file`` and compile it for ``device``; returns the ``CompiledModel``.

    Args:
        precision: ``'auto'`` (OpenVINO's default), ``'fp32'`` or ``'bf16'``.
        threads: ``INFERENCE_NUM_THREADS`` (``None``: OpenVINO's default, all cores).
        cache_dir: Compiled-model cache; ``None``: :func:`default_cache_dir`, ``''``: none.
    """
    ov = require_openvino()
    if precision not in ('auto', 'fp32', 'bf16'):
        raise ValueError(f'precision {precision!r}: choose auto, fp32 or bf16')
    core = ov.Core()
    if precision == 'bf16' and 'BF16' not in core.get_property(device,
                                                               'OPTIMIZATION_CAPABILITIES'):
        raise ValueError(f'--precision bf16: OpenVINO reports no bf16 support on this {device} '
                         '(no avx512_bf16/AMX); use --precision auto or fp32')
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        core.set_property({'CACHE_DIR': cache_dir})
    config = {}
    if precision != 'auto':
        config['INFERENCE_PRECISION_HINT'] = OV_PRECISION[precision]
    if threads:
        config['INFERENCE_NUM_THREADS'] = int(threads)
    return core.compile_model(core.read_model(onnx_file), device, config)


class OpenVINOForward(nn.Module):
    """Runs an exported model in OpenVINO on the CPU; stands in for the backbone.

    Args:
        onnx_file (str): File written by :func:`~.onnx.export_onnx`.
        bottomup (bool): Bottom-up model (``heatmaps``, ``displacements``), else top-down.
        precision (str): ``'auto'``, ``'fp32'`` or ``'bf16'``.
        threads (int, optional): OpenVINO inference threads.
        cache_dir (str, optional): Compiled-model cache (see :func:`compile_onnx`).

    Shapes:
        (N, 3, H, W) -> ``((heatmaps, displacements), )`` (bottom-up) or ``(heatmaps, )``.
    """

    def __init__(self, onnx_file: str, bottomup: bool, precision: str = 'auto',
                 threads: Optional[int] = None, cache_dir: Optional[str] = None):
        super().__init__()
        self.onnx_file = onnx_file
        self.bottomup = bottomup
        self.precision = precision
        self.compiled = compile_onnx(onnx_file, precision, threads, cache_dir)
        # a tensor may carry several names (the ONNX output's and its producer's)
        self.output_names = [next((n for n in ('heatmaps', 'displacements') if n in o.get_names()),
                                  o.get_any_name()) for o in self.compiled.outputs]
        shape = self.compiled.inputs[0].get_partial_shape()
        self.input_shape = tuple(d.get_length() if d.is_static else None for d in shape)
        self.request = self.compiled.create_infer_request()

    @property
    def inference_precision(self) -> str:
        """The precision OpenVINO chose (``f32``, ``bf16``)."""
        hint = self.compiled.get_property('INFERENCE_PRECISION_HINT')
        return hint.to_string() if hasattr(hint, 'to_string') else str(hint)

    def forward(self, x: Tensor) -> tuple:
        check_input_shape(self.onnx_file, self.input_shape, x)
        self.request.infer({0: np.ascontiguousarray(x.detach().cpu().float().numpy())})
        # copies: the request's output buffers are reused by the next call (flip test)
        outs = [torch.from_numpy(self.request.get_output_tensor(i).data.copy()).to(x.device)
                for i in range(len(self.output_names))]
        return pack_outputs(outs, self.bottomup)


def use_openvino(model: nn.Module, onnx_file: str, precision: str = 'auto',
                 threads: Optional[int] = None, cache_dir: Optional[str] = None) -> nn.Module:
    """Run a pose estimator's network in OpenVINO, keeping mmpose's decoding, in place.

    The OpenVINO twin of :func:`~.onnx.use_onnxruntime` (see
    :func:`~.runtime.install_network`); ``model`` must be built from the config the file was
    exported from.
    """
    check_runnable(model)
    network = OpenVINOForward(onnx_file, is_bottomup(model), precision, threads, cache_dir)
    check_file_outputs(onnx_file, network.output_names, model)
    return install_network(model, network)
