"""OpenVINO as a backend: the ONNX file of :func:`.onnx.export_onnx`, compiled for the CPU.

OpenVINO reads the ONNX file directly and keeps the compiled model in a cache directory, so a
second start skips compilation. ``precision='auto'`` keeps OpenVINO's own choice (bf16 on a CPU
with bf16 instructions, f32 elsewhere); ``'fp32'`` and ``'bf16'`` set its inference precision
hint. ``openvino`` is an optional extra, imported only here.
"""
import os
import os.path as osp
import uuid
from typing import Optional

import numpy as np
import torch
from torch import Tensor, nn

from .base import (check_finite, check_input_shape, check_runnable, check_threads, file_metadata,
                   install_network, is_bottomup, open_checks, pack_outputs, warn)

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


class CacheDirWarning(UserWarning):
    """OpenVINO's cache folder cannot be written; the model is compiled without it."""


def usable_cache_dir(cache_dir: str) -> Optional[str]:
    """``cache_dir`` if it can be created and written, else ``None`` after one warning naming it
    (the run then compiles without a cache: slower to start, same results)."""
    try:
        os.makedirs(cache_dir, exist_ok=True)
        probe = osp.join(cache_dir, f'.write_test.{os.getpid()}.{uuid.uuid4().hex[:8]}')
        with open(probe, 'wb'):
            pass
        os.remove(probe)
        return cache_dir
    except OSError as e:
        msg = (f'OpenVINO cache folder {cache_dir} cannot be written ({type(e).__name__}: '
               f'{e.strerror or e}); running without the compiled-model cache (each start '
               'compiles the model again). Pass --ov-cache-dir DIR (a writable folder) or '
               '--ov-cache-dir "" to run without a cache and without this warning.')
        warn(msg, CacheDirWarning)
        return None


def compile_onnx(onnx_file: str,
                 precision: str = 'auto',
                 threads: Optional[int] = None,
                 cache_dir: Optional[str] = None,
                 device: str = 'CPU'):
    """Read ``onnx_file`` and compile it for ``device``; returns the ``CompiledModel``.

    Args:
        precision: ``'auto'`` (OpenVINO's default), ``'fp32'`` or ``'bf16'``.
        threads: ``INFERENCE_NUM_THREADS``, 1 or more (``None``: OpenVINO's default, all cores).
        cache_dir: Compiled-model cache; ``None``: :func:`default_cache_dir`, ``''``: none; one
            that cannot be written is skipped with a warning (:func:`usable_cache_dir`).
    """
    threads = check_threads(threads)
    ov = require_openvino()
    if precision not in ('auto', 'fp32', 'bf16'):
        raise ValueError(f'precision {precision!r}: choose auto, fp32 or bf16')
    core = ov.Core()
    if precision == 'bf16' and 'BF16' not in core.get_property(device, 'OPTIMIZATION_CAPABILITIES'):
        raise ValueError(f'--precision bf16: OpenVINO reports no bf16 support on this {device} '
                         '(no avx512_bf16/AMX); use --precision auto or fp32')
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    if cache_dir and usable_cache_dir(cache_dir):
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

    def __init__(self,
                 onnx_file: str,
                 bottomup: bool,
                 precision: str = 'auto',
                 threads: Optional[int] = None,
                 cache_dir: Optional[str] = None):
        super().__init__()
        self.onnx_file = onnx_file
        self.bottomup = bottomup
        self.precision = precision
        self.compiled = compile_onnx(onnx_file, precision, threads, cache_dir)
        # a tensor may carry several names (the ONNX output's and its producer's)
        self.output_names = [
            next((n for n in ('heatmaps', 'displacements') if n in o.get_names()), o.get_any_name())
            for o in self.compiled.outputs
        ]
        shape = self.compiled.inputs[0].get_partial_shape()
        self.input_shape = tuple(d.get_length() if d.is_static else None for d in shape)
        self.request = self.compiled.create_infer_request()

    def declared_output_shapes(self) -> list:
        """The compiled outputs' shapes (``None`` where a size is open)."""
        return [
            tuple(d.get_length() if d.is_static else None for d in o.get_partial_shape())
            for o in self.compiled.outputs
        ]

    def run(self, x: Tensor) -> list:
        """The file's raw outputs (numpy copies: the request reuses its buffers) on ``x``."""
        self.request.infer({0: np.ascontiguousarray(x.detach().cpu().float().numpy())})
        return [
            self.request.get_output_tensor(i).data.copy() for i in range(len(self.output_names))
        ]

    @property
    def inference_precision(self) -> str:
        """The precision OpenVINO chose (``f32``, ``bf16``)."""
        hint = self.compiled.get_property('INFERENCE_PRECISION_HINT')
        return hint.to_string() if hasattr(hint, 'to_string') else str(hint)

    def forward(self, x: Tensor) -> tuple:
        check_input_shape(self.onnx_file, self.input_shape, x)
        outs = self.run(x)
        check_finite(self.onnx_file, outs, self.output_names)
        return pack_outputs([torch.from_numpy(o).to(x.device) for o in outs], self.bottomup)


def use_openvino(model: nn.Module,
                 onnx_file: str,
                 precision: str = 'auto',
                 threads: Optional[int] = None,
                 cache_dir: Optional[str] = None) -> nn.Module:
    """Run a pose estimator's network in OpenVINO, keeping mmpose's decoding, in place.

    The OpenVINO twin of :func:`~.onnx.use_onnxruntime` (see
    :func:`~.base.install_network`); ``model`` must be built from the config the file was
    exported from: the file is checked against it when opened (its graph's sha256, metadata and
    output shapes, see :func:`~.base.open_checks`).
    """
    check_runnable(model)
    meta = file_metadata(onnx_file)  # a damaged file is refused before OpenVINO reads it
    network = OpenVINOForward(onnx_file, is_bottomup(model), precision, threads, cache_dir)
    open_checks(onnx_file, model, meta, network, network.run)
    network.metadata = meta
    return install_network(model, network)
