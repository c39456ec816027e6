"""The backends' base layer: a network forward under mmpose's decoding, and a file's checks.

A *network forward* maps the preprocessed batch (N, 3, H, W) to the head's raw outputs:
``(heatmaps, )`` for a top-down heatmap model, ``(heatmaps, displacements)`` for a DEKR-style
bottom-up model. :func:`install_network` makes it the estimator's backbone, so ``test_step``, flip
and multi-scale test, ``head.predict``, the codec and pose NMS stay mmpose's. The checks refuse a
file that does not fit its config, a damaged file and non-finite outputs. No backend is imported
here: :mod:`.runtime` dispatches to :mod:`.onnxruntime_backend` and :mod:`.openvino_backend`.
"""
import json
import logging
import os
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from .metadata import KEY, _test_pipeline, check_integrity, parse_metadata, sha256_file


def warn(msg: str, category: type, stacklevel: int = 3) -> str:
    """Say ``msg`` in the log and as a ``category`` warning (tests and callers can catch it)."""
    print_log(msg, logger='current', level=logging.WARNING)
    warnings.warn(msg, category, stacklevel=stacklevel + 1)
    return msg


#: The layers a top-down heatmap head chains on ``feats[-1]`` (mmpose's ``HeatmapHead``:
#: deconv, conv, final; ours: upsample, conv, final).
TOPDOWN_HEAD_LAYERS = ('deconv_layers', 'upsample_layers', 'conv_layers', 'final_layer')


def check_threads(threads, option: str = '--threads') -> Optional[int]:
    """``threads`` as an int >= 1, ``None`` kept (the runtime's default); a clear error naming
    ``option`` and the valid range otherwise (-1, 0, 2.5, 'x')."""
    if threads is None:
        return None
    value = None
    if isinstance(threads, (int, np.integer)) and not isinstance(threads, bool):
        value = int(threads)
    elif isinstance(threads, str) and threads.strip().lstrip('+').isdigit():
        value = int(threads)
    if value is None or value < 1:
        raise ValueError(
            f'{option} {threads!r}: give a whole number of threads, 1 or more (this machine has '
            f'{os.cpu_count()} logical cores), or leave {option} out for the runtime\'s default')
    return value


class NonFiniteOutputError(ValueError):
    """A network output, or a prediction decoded from it, holds NaN or inf."""


def check_finite(source: str,
                 outputs: Sequence,
                 names: Optional[Sequence[str]] = None,
                 what: str = 'network output') -> None:
    """Refuse NaN/inf in ``outputs`` (tensors or arrays), naming ``source`` (a file).

    Broken weights (a garbled ONNX file, a diverged checkpoint) give them; decoded, they would
    become keypoints at arbitrary places, or NaNs that no JSON file can hold.
    """
    for i, out in enumerate(outputs):
        arr = out.detach() if isinstance(out, Tensor) else torch.as_tensor(np.asarray(out))
        if arr.dtype.is_floating_point and not bool(torch.isfinite(arr).all()):
            bad = int((~torch.isfinite(arr)).sum())
            name = names[i] if names is not None and i < len(names) else f'#{i}'
            raise NonFiniteOutputError(
                f'{source}: {what} {name} holds {bad} non-finite values (NaN/inf) of '
                f'{arr.numel()}: the weights are broken (a garbled or truncated file, or a '
                'diverged training). Export the file again from a good checkpoint, or use '
                'another checkpoint.')


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
    if is_bottomup(model) or any(
            isinstance(getattr(head, n, None), nn.Module) for n in TOPDOWN_HEAD_LAYERS):
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
            fixed_size_message(
                source, tuple(fixed[2:4]), f'got an input of {x.shape[2]}x{x.shape[3]} (batch '
                f'{tuple(x.shape)}; bottom-up: the image resized by BottomupResize in its own '
                'aspect)'))


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


# ------------------------------------------------------------------ checks of an ONNX file
def export_hint(model: Optional[nn.Module] = None, dynamic_hw: bool = False) -> str:
    """How to export ``model``'s config again (the fix of every file check)."""
    cfg = getattr(model, 'cfg', None)
    config = getattr(cfg, 'filename', None) or 'CONFIG'
    return (f'python tools/deployment/export_onnx.py {config} --checkpoint CHECKPOINT' +
            (' --dynamic-hw' if dynamic_hw else ''))


def _metadata_props(onnx_file: str) -> Dict[str, str]:
    """The file's ``metadata_props``: read with ``onnx`` (protobuf only), else ONNX Runtime,
    else none (neither installed)."""
    try:
        import onnx
    except ImportError:
        onnx = None
    try:
        if onnx is not None:
            proto = onnx.load(onnx_file, load_external_data=False)
            return {p.key: p.value for p in proto.metadata_props}
        import onnxruntime as ort
        return dict(
            ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider'
                                                       ]).get_modelmeta().custom_metadata_map)
    except ImportError:
        return {}
    except Exception as e:  # protobuf/ORT: the bytes are no ONNX model
        raise ValueError(f'{onnx_file} cannot be read as an ONNX model ({type(e).__name__}: '
                         f'{str(e)[:200]}): the file is damaged or not an ONNX file; export it '
                         'again with tools/deployment/export_onnx.py') from e


_META_CACHE: Dict[tuple, Optional[dict]] = {}


def file_metadata(onnx_file: str) -> Optional[dict]:
    """The deployment metadata of ``onnx_file``, its graph checked against the sha256 recorded at
    export (:func:`~.metadata.check_integrity`); ``None`` for a file without metadata (exported by
    an older version or another tool: then only its graph's shapes can be checked)."""
    st = os.stat(onnx_file)
    key = (os.path.abspath(onnx_file), st.st_size, st.st_mtime_ns)
    if key not in _META_CACHE:
        props = _metadata_props(onnx_file)
        try:
            meta = parse_metadata(onnx_file, props) if KEY in props else None
        except json.JSONDecodeError as e:
            raise ValueError(f'{onnx_file} is damaged: its {KEY} metadata is not valid JSON '
                             f'({e}); export it again with tools/deployment/export_onnx.py') from e
        if meta is not None:
            check_integrity(onnx_file, meta)
        _META_CACHE.clear()  # one file at a time is all a run opens
        _META_CACHE[key] = meta
    return _META_CACHE[key]


def checkpoint_of_file(onnx_file: str, checkpoint: Optional[str], meta: Optional[dict]) -> str:
    """Where the network's weights come from when ``onnx_file`` runs: the file, always.

    A checkpoint given beside the file must be the one it was exported from (the sha256 of its
    bytes equals the file's ``source.checkpoint_sha256``); another checkpoint, or one that cannot
    be compared (a file without that record, a URL), is refused, as the checkpoint would not be
    what runs. Returns the sentence that says where the weights come from.
    """
    src = (meta or {}).get('source') or {}
    recorded, exported_from = src.get('checkpoint_sha256'), src.get('checkpoint')
    origin = (f'exported from checkpoint {exported_from}'
              if exported_from else 'exported with random weights'
              if meta is not None else 'a file without deployment metadata')
    if checkpoint is None or str(checkpoint).lower() == 'none':
        return f'the ONNX file {onnx_file} ({origin})'
    if not recorded:
        raise ValueError(
            f'POSE_CHECKPOINT {checkpoint} was given beside --onnx {onnx_file}, but the ONNX file '
            f'records no checkpoint hash ({origin}), so what it runs cannot be shown to be '
            f'{checkpoint}. Export {checkpoint} ({export_hint()}) and run that file, or pass '
            'the checkpoint "none" to run the weights inside the ONNX file.')
    if '://' in str(checkpoint) or not os.path.isfile(checkpoint):
        raise ValueError(f'POSE_CHECKPOINT {checkpoint}: not a local file, so it cannot be '
                         f'compared with the weights --onnx {onnx_file} records; pass the local '
                         'checkpoint file or the checkpoint "none"')
    if sha256_file(checkpoint) != recorded:
        raise ValueError(
            f'POSE_CHECKPOINT {checkpoint} is not the checkpoint --onnx {onnx_file} was exported '
            f'from ({exported_from}, sha256 {recorded[:12]}...): the ONNX file would run its own, '
            f'other weights. Export {checkpoint} again ({export_hint()}), or pass the checkpoint '
            '"none" to run the weights inside the ONNX file.')
    return (f'the ONNX file {onnx_file}, exported from checkpoint {exported_from}: the same bytes '
            f'as POSE_CHECKPOINT {checkpoint} (sha256 {recorded[:12]}...), which is therefore '
            'not loaded')


def _model_facts(model: nn.Module) -> dict:
    """What the config says a file must be: kind, outputs, keypoints, codec sizes, input
    normalisation."""
    meta = getattr(model, 'dataset_meta', None) or {}
    id2name = meta.get('keypoint_id2name') or {}
    decoder = getattr(model.head, 'decoder', None)
    cfg = getattr(model, 'cfg', None)
    pre = (cfg.model.get('data_preprocessor') or {}) if cfg is not None else {}
    facts = dict(
        kind='bottomup' if is_bottomup(model) else 'topdown',
        outputs=output_names(model),
        num_keypoints=meta.get('num_keypoints',
                               len(id2name) or None),
        keypoint_names=[id2name[i] for i in sorted(id2name)] or None,
        heatmap_size=getattr(decoder, 'heatmap_size', None),
        input_size=getattr(decoder, 'input_size', None))
    if pre:
        facts.update(
            mean=pre.get('mean'),
            std=pre.get('std'),
            channel_order='rgb' if pre.get('bgr_to_rgb', False) else 'bgr')
    return facts


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    return a == b


def _refuse(onnx_file: str, field: str, in_file, in_config, model: nn.Module) -> None:
    config = getattr(getattr(model, 'cfg', None), 'filename', None) or 'the config'
    raise ValueError(
        f'{onnx_file}: {field} is {in_file} in the file but {in_config} in {config}: the file '
        f'was exported from another config, and its outputs would be read wrongly. Export this '
        f'config again ({export_hint(model)}) and run that file.')


def check_metadata_fits(onnx_file: str, meta: dict, model: nn.Module) -> None:
    """Refuse a file whose metadata differs from ``model``'s config: kind, outputs, keypoint
    count and names, codec heatmap and input size, normalisation."""
    want = _model_facts(model)
    names = (meta.get('dataset') or {}).get('keypoint_names')
    got = dict(
        kind=meta.get('kind'),
        outputs=meta.get('outputs'),
        num_keypoints=len(names) if names is not None else None,
        keypoint_names=names,
        heatmap_size=(meta.get('codec') or {}).get('heatmap_size'),
        input_size=(meta.get('input') or {}).get('size'),
        mean=(meta.get('input') or {}).get('mean'),
        std=(meta.get('input') or {}).get('std'),
        channel_order=(meta.get('input') or {}).get('channel_order'))
    labels = dict(
        kind='kind',
        outputs='outputs',
        num_keypoints='the number of keypoints',
        keypoint_names='keypoint_names',
        heatmap_size='codec heatmap_size (w, h)',
        input_size='input size (w, h)',
        mean='input mean',
        std='input std',
        channel_order='input channel order')
    for key, label in labels.items():
        if key not in want or want[key] is None or got.get(key) is None:
            continue
        a, b = got[key], want[key]
        a = list(a) if isinstance(a, tuple) else a
        b = list(b) if isinstance(b, tuple) else b
        if not _same(a, b):
            if key == 'keypoint_names':
                diff = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
                a, b = f'{a[diff]!r} at index {diff}', repr(b[diff])
            _refuse(onnx_file, label, a, b, model)


def fixed_input_hw(input_shape: Sequence) -> Optional[Tuple[int, int]]:
    """(H, W) of a file whose input height and width are fixed, else ``None``."""
    hw = tuple(input_shape[2:4])
    if len(hw) == 2 and all(isinstance(d, int) and d > 0 for d in hw):
        return hw
    return None


def expected_output_shapes(model: nn.Module, input_hw: Tuple[int, int]) -> Dict[str, tuple]:
    """(C, h, w) per output name that ``model``'s config decodes for an input of ``input_hw``;
    ``None`` for a size the config does not fix."""
    facts = _model_facts(model)
    k = facts['num_keypoints']
    hm, inp = facts['heatmap_size'], facts['input_size']
    hw = None
    if hm is not None and inp is not None:
        if facts['kind'] == 'topdown':
            hw = (int(hm[1]), int(hm[0]))
        else:  # bottom-up: the heatmaps keep the codec's input/heatmap stride at any size
            hw = tuple(int(round(s * hm[i] / inp[i])) for s, i in zip(input_hw, (1, 0)))
    if facts['kind'] == 'topdown':
        return dict(heatmaps=(k, ) + (hw or (None, None)))
    return dict(
        heatmaps=(k + 1 if k else None, ) + (hw or (None, None)),
        displacements=(2 * k if k else None, ) + (hw or (None, None)))


def check_output_shapes(onnx_file: str, shapes: Dict[str, Sequence], model: nn.Module,
                        input_hw: Tuple[int, int]) -> None:
    """Refuse outputs whose channels or size (N, C, h, w) differ from what ``model``'s config
    decodes at input ``input_hw`` (dimensions a file leaves open are not compared)."""
    for name, want in expected_output_shapes(model, input_hw).items():
        got = shapes.get(name)
        if got is None:
            continue
        got = tuple(got)[1:]
        for label, g, w in zip(('channels', 'height', 'width'), got, want):
            if isinstance(g, int) and g > 0 and w is not None and g != w:
                what = ('(the number of keypoints' + (' + 1' if name == 'heatmaps' and
                                                      is_bottomup(model) else '')
                        + (' x 2' if name == 'displacements' else '') + ')') \
                    if label == 'channels' else f'(at input {input_hw[0]}x{input_hw[1]})'
                _refuse(onnx_file, f'output {name} {label} {what}', g, w, model)


def network_input_hw(model: nn.Module, input_shape: Sequence) -> Tuple[int, int]:
    """The input (H, W) to check a file's outputs at: its fixed size; else, bottom-up, a small
    64x64 (a multiple of every size factor; the probe run stays cheap), top-down the codec's."""
    fixed = fixed_input_hw(input_shape)
    if fixed is not None:
        return fixed
    if is_bottomup(model):
        return (64, 64)
    inp = _model_facts(model)['input_size']
    return (int(inp[1]), int(inp[0])) if inp is not None else (256, 256)


def check_topdown_input(onnx_file: str, model: nn.Module, input_shape: Sequence) -> None:
    """A top-down file's fixed input must be the codec input size (every crop has it)."""
    fixed = fixed_input_hw(input_shape)
    inp = _model_facts(model)['input_size']
    if is_bottomup(model) or fixed is None or inp is None:
        return
    if tuple(fixed) != (int(inp[1]), int(inp[0])):
        _refuse(onnx_file, 'the input size (h, w)', tuple(fixed), (int(inp[1]), int(inp[0])), model)


def multiscale_test(model: nn.Module) -> bool:
    """The config tests at several scales (``test_cfg.multiscale_test`` or a resize step with
    ``aug_scales``)."""
    if (getattr(model, 'test_cfg', None) or {}).get('multiscale_test', False):
        return True
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        return False
    return any(step.get('aug_scales') for step in _test_pipeline(cfg))


def fixed_size_message(onnx_file: str, fixed: Tuple[int, int], why: str) -> str:
    """The refusal of a fixed-size file for inputs of other sizes (the fix: any-shape export)."""
    return (f'{onnx_file} takes only inputs of {fixed[0]}x{fixed[1]} (H x W; it was exported '
            f'at a fixed size), but {why}. Export it with any-shape support: '
            'tools/deployment/export_onnx.py CONFIG --checkpoint CHECKPOINT --dynamic-hw')


def check_not_multiscale(onnx_file: str, model: nn.Module, input_shape: Sequence) -> None:
    """Refuse a fixed-size file under a multi-scale test (its scales have other sizes)."""
    fixed = fixed_input_hw(input_shape)
    if fixed is not None and is_bottomup(model) and multiscale_test(model):
        raise ValueError(
            fixed_size_message(
                onnx_file, fixed, 'the config tests at several scales (multiscale_test / '
                'aug_scales), whose inputs have other sizes'))


def open_checks(onnx_file: str, model: nn.Module, meta: Optional[dict], network: nn.Module,
                probe) -> None:
    """Every check of an opened file against ``model``'s config, before it runs anything.

    Args:
        meta: The file's metadata (:func:`file_metadata`) or ``None``.
        network: The backend module (``output_names``, ``input_shape``,
            ``declared_output_shapes()``).
        probe: ``probe(x) -> list of arrays``: one run of the file on ``x``, used where its
            declared output shapes leave a size open.
    """
    check_file_outputs(onnx_file, network.output_names, model)
    if meta is not None:
        check_metadata_fits(onnx_file, meta, model)
    check_topdown_input(onnx_file, model, network.input_shape)
    check_not_multiscale(onnx_file, model, network.input_shape)
    hw = network_input_hw(model, network.input_shape)
    shapes = dict(zip(network.output_names, network.declared_output_shapes()))
    want = expected_output_shapes(model, hw)
    if any(not (isinstance(d, int) and d > 0) for n in want for d in tuple(shapes[n])[1:]):
        outs = probe(torch.zeros(1, 3, *hw))
        check_finite(onnx_file, outs, network.output_names)
        shapes = {n: tuple(o.shape) for n, o in zip(network.output_names, outs)}
    check_output_shapes(onnx_file, shapes, model, hw)
