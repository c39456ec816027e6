"""ONNX Runtime as a backend: an exported file runs the network under mmpose's decoding.

The session replaces the estimator's network and everything else (``test_step``, flip test,
``head.predict``, decoding, rescoring, pose NMS, mapping back to the image) runs unchanged
(:func:`~.base.install_network`). ``onnxruntime`` is an optional extra, imported only here.
"""
from typing import Optional

import torch
from torch import Tensor, nn

from .base import (check_finite, check_input_shape, check_runnable, check_threads, file_metadata,
                   install_network, is_bottomup, open_checks, pack_outputs)


def require_onnxruntime():
    """Import ``onnxruntime`` or fail with one line saying how to install it."""
    try:
        import onnxruntime
    except ImportError as e:
        raise ImportError(f'--backend onnxruntime needs the optional package onnxruntime ({e}); '
                          'install it with `pip install -r requirements/optional.txt`') from e
    return onnxruntime


def ort_session(onnx_file: str, threads: Optional[int] = 2):
    """A CPU ONNX Runtime session with ``threads`` intra-op threads (``None``: ORT's default, one
    per physical core; else 1 or more) and one inter-op thread."""
    threads = check_threads(threads)
    ort = require_onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or 0
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_file, opts, providers=['CPUExecutionProvider'])


class OnnxRuntimeForward(nn.Module):
    """Runs an exported model in ONNX Runtime; stands in for the backbone.

    Returns the outputs packed as :func:`~.base.install_network` expects, so that the head's
    pass-through layers hand them on and ``head.forward`` / ``head.predict`` run unchanged.

    Args:
        onnx_file (str): File written by :func:`~.export.export_onnx`.
        threads (int, optional): ONNX Runtime intra-op threads (``None``: its default).
        bottomup (bool): The file holds a bottom-up model (outputs ``heatmaps``,
            ``displacements``), else a top-down one (``heatmaps``).

    Shapes:
        (N, 3, H, W) -> ``((heatmaps (N, K+1, h, w), displacements (N, 2K, h, w)), )``
        (bottom-up) or ``(heatmaps (N, K, h, w), )`` (top-down).
    """

    def __init__(self, onnx_file: str, threads: Optional[int] = 2, bottomup: bool = True):
        super().__init__()
        self.onnx_file = onnx_file
        self.bottomup = bottomup
        self.session = ort_session(onnx_file, threads)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.input_shape = tuple(self.session.get_inputs()[0].shape)

    def declared_output_shapes(self) -> list:
        """The graph's declared output shapes (a name or ``None`` where a size is open)."""
        return [tuple(o.shape) for o in self.session.get_outputs()]

    def run(self, x: Tensor) -> list:
        """The file's raw outputs (numpy) on ``x``."""
        return self.session.run(None, {'input': x.detach().cpu().float().contiguous().numpy()})

    def forward(self, x: Tensor) -> tuple:
        check_input_shape(self.onnx_file, self.input_shape, x)
        outs = self.run(x)
        check_finite(self.onnx_file, outs, self.output_names)
        return pack_outputs([torch.from_numpy(o).to(x.device) for o in outs], self.bottomup)


def use_onnxruntime(model: nn.Module, onnx_file: str, threads: Optional[int] = 2) -> nn.Module:
    """Run a pose estimator's network in ONNX Runtime, keeping mmpose's decoding, in place.

    Bottom-up (DEKR-style) and top-down heatmap models; see
    :func:`~.base.install_network`. ``model.test_step`` / ``predict``, the flip test (the
    session runs on the flipped batch too), ``head.predict``, the codec, rescore net and pose NMS
    are untouched. The model must be built from the config the file was exported from (its head
    settings and codec decode the outputs): the file is checked against it when opened
    (:func:`~.base.file_metadata`, :func:`~.base.open_checks`).

    Returns:
        nn.Module: ``model``, now for inference only (its network weights are gone).
    """
    check_runnable(model)
    meta = file_metadata(onnx_file)  # a damaged file is refused before ORT reads it
    network = OnnxRuntimeForward(onnx_file, threads, bottomup=is_bottomup(model))
    open_checks(onnx_file, model, meta, network, network.run)
    network.metadata = meta
    return install_network(model, network)
