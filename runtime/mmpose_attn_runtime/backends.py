"""The inference engines: ONNX Runtime and OpenVINO, each loading a model file and its metadata."""
from typing import List, Optional, Tuple

import numpy as np

from .model_file import check_file, read_onnx_metadata, read_openvino_metadata

BACKENDS = ('onnxruntime', 'openvino')


class Backend:
    """A loaded network: ``run(x)`` maps an (N, 3, H, W) float32 input to the outputs named by
    the metadata (``heatmaps`` [, ``displacements``]).

    Args:
        model_file: ``.onnx`` (exported by tools/deployment/export_onnx.py) or OpenVINO ``.xml``.
        backend: ``'onnxruntime'`` or ``'openvino'`` (an ``.xml`` needs ``'openvino'``).
        threads: Intra-op threads (``None``: the engine's default).
    """

    def __init__(self,
                 model_file: str,
                 backend: str = 'onnxruntime',
                 threads: Optional[int] = None):
        if backend not in BACKENDS:
            raise ValueError(f'backend {backend!r}: choose one of {", ".join(BACKENDS)}')
        kind = check_file(model_file)
        self.model_file, self.backend = model_file, backend
        if kind == 'openvino' and backend != 'openvino':
            raise ValueError(f'{model_file} is an OpenVINO model: use backend="openvino" '
                             '(pip install "./runtime[openvino]")')
        if backend == 'onnxruntime':
            self.meta = read_onnx_metadata(model_file)
            self._load_ort(threads)
        else:
            ov = _import_openvino()
            core = ov.Core()
            model = core.read_model(model_file)
            self.meta = (
                read_onnx_metadata(model_file) if kind == 'onnx' else read_openvino_metadata(
                    model_file, model))
            self._load_openvino(core, model, threads)
        self.output_names = list(self.meta.get('outputs') or ['heatmaps'])

    def _load_ort(self, threads):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 0
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            self.model_file, opts, providers=['CPUExecutionProvider'])
        self._input_name = self._session.get_inputs()[0].name
        self.input_shape = tuple(self._session.get_inputs()[0].shape)

    def _load_openvino(self, core, model, threads):
        config = {'INFERENCE_PRECISION_HINT': 'f32'}  # fp32 where the CPU has bf16 (parity)
        if threads:
            config['INFERENCE_NUM_THREADS'] = int(threads)
        self._compiled = core.compile_model(model, 'CPU', config)
        self._request = self._compiled.create_infer_request()
        shape = model.inputs[0].get_partial_shape()
        self.input_shape = tuple(d.get_length() if d.is_static else None for d in shape)

    def fixed_hw(self) -> Optional[Tuple[int, int]]:
        """(H, W) the file requires, ``None`` when it takes any."""
        h, w = self.input_shape[2:4]
        return (h, w) if isinstance(h, int) and isinstance(w, int) else None

    def run(self, x: np.ndarray) -> List[np.ndarray]:
        """Outputs for input ``x`` (N, 3, H, W) float32, in :attr:`output_names` order."""
        hw = self.fixed_hw()
        if hw is not None and tuple(x.shape[2:]) != hw:
            raise ValueError(
                f'{self.model_file} takes inputs of H x W = {hw[0]} x {hw[1]} only, got '
                f'{x.shape[2]} x {x.shape[3]}: export it again with --shape {x.shape[2]} '
                f'{x.shape[3]} (or with --dynamic-hw for any size)')
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.backend == 'onnxruntime':
            return self._session.run(self.output_names, {self._input_name: x})
        result = self._request.infer({0: x})
        by_name = {}
        for port, value in result.items():
            for name in port.get_names():
                by_name[name] = value
        outs = [by_name.get(n) for n in self.output_names]
        if any(o is None for o in outs):  # IR without tensor names: the outputs' order
            outs = [result[p] for p in self._compiled.outputs]
        return [np.asarray(o) for o in outs]


def _import_openvino():
    try:
        import openvino as ov
    except ImportError as e:
        raise ImportError('backend="openvino" needs OpenVINO: pip install "./runtime[openvino]" '
                          f'({e})') from e
    return ov
