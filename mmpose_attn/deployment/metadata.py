"""What an exported model file says about itself: the deployment metadata and its integrity check.

An exported ONNX file carries one ``metadata_props`` entry, :data:`KEY`, a JSON object with every
fact needed to run the model without its config (kind, input size, normalisation, channel order,
codec, test-time settings, pipeline, keypoints, source and hashes); the schema is in
``docs/deployment.md``. The graph's bytes are hashed as written, before the metadata is appended, so
a reader checks a file for corruption with ``hashlib`` alone.
"""
import hashlib
import json
import os
from typing import List, Optional, Tuple

from mmengine.config import Config
from torch import nn

from ..version import __version__

#: The ``metadata_props`` key of the deployment metadata.
KEY = 'mmpose_attn.deploy'
#: The schema version written; readers refuse a higher one.
FORMAT = 1

#: Bottom-up resize steps whose kwargs describe the network input (mmpose's and ours).
BOTTOMUP_RESIZE = ('BottomupResize', 'MultiScaleBottomupResize')


def sha256_file(path: str, limit: Optional[int] = None) -> str:
    """The sha256 of a file's bytes (the first ``limit`` bytes when given)."""
    digest = hashlib.sha256()
    left = limit
    with open(path, 'rb') as f:
        while left is None or left > 0:
            chunk = f.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
    return digest.hexdigest()


def _plain(obj):
    """``obj`` with tuples, ConfigDicts and numpy values turned into JSON-native ones."""
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items() if not str(k).startswith('_')}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, 'tolist'):
        return obj.tolist()
    return obj


def _test_pipeline(cfg: Config) -> list:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset', {})
    while 'pipeline' not in dataset and 'dataset' in dataset:  # dataset wrappers
        dataset = dataset['dataset']
    return list(dataset.get('pipeline', []))


def pipeline_facts(cfg: Config, bottomup: bool) -> dict:
    """The test pipeline's geometry: top-down crop (``TopdownAffine`` + ``GetBBoxCenterScale``
    padding), or the bottom-up resize step's kwargs."""
    steps = {s['type']: _plain(s) for s in _test_pipeline(cfg)}
    if bottomup:
        for name in BOTTOMUP_RESIZE:
            if name in steps:
                step = dict(steps[name])
                step['type'] = 'BottomupResize'
                step.setdefault('size_factor', 32)
                step.setdefault('resize_mode', 'fit')
                step.setdefault('use_udp', False)
                return step
        raise ValueError(f'{cfg.filename}: no {" or ".join(BOTTOMUP_RESIZE)} step in the test '
                         'pipeline, so the exported file could not say how to resize an image')
    affine = steps.get('TopdownAffine')
    if affine is None:
        raise ValueError(f'{cfg.filename}: no TopdownAffine step in the test pipeline, so the '
                         'exported file could not say how to crop a person')
    return dict(
        type='TopdownAffine',
        input_size=affine['input_size'],
        use_udp=bool(affine.get('use_udp', False)),
        padding=steps.get('GetBBoxCenterScale', {}).get('padding', 1.25))


def deploy_metadata(model: nn.Module,
                    cfg: Config,
                    outputs: List[str],
                    export_hw: Tuple[int, int],
                    dynamic_hw: bool = False,
                    checkpoint: Optional[str] = None,
                    config_name: Optional[str] = None) -> dict:
    """The deployment metadata of ``model`` built from ``cfg`` and exported at ``export_hw``.

    Args:
        model: The built pose estimator (its ``dataset_meta`` names the keypoints).
        cfg: Its config.
        outputs: The network's output names (``['heatmaps', 'displacements']`` for bottom-up).
        export_hw: (H, W) the graph was traced at.
        dynamic_hw: The graph takes other input heights and widths.
        checkpoint: The checkpoint file the weights came from (hashed), ``None`` for random.
        config_name: How to name the config (default: ``cfg.filename``).
    """
    bottomup = 'displacements' in outputs
    head = cfg.model.head
    codec = head.get('decoder') or cfg.get('codec')
    if codec is None:
        raise ValueError(f'{cfg.filename}: model.head has no decoder, so the exported file could '
                         'not say how to decode its outputs')
    pre = cfg.model.get('data_preprocessor', {})
    meta = getattr(model, 'dataset_meta', None) or {}
    if not meta:
        raise ValueError(f'{cfg.filename}: the model has no dataset_meta (keypoint names, flip '
                         'indices): give a checkpoint that carries it or a config with a dataset')
    names = meta.get('keypoint_id2name') or {}
    ckpt = None if checkpoint is None or str(checkpoint).lower() == 'none' else checkpoint
    return dict(
        format=FORMAT,
        kind='bottomup' if bottomup else 'topdown',
        outputs=list(outputs),
        input=dict(
            size=_plain(codec['input_size']),
            export_hw=[int(export_hw[0]), int(export_hw[1])],
            dynamic_hw=bool(dynamic_hw),
            channel_order='rgb' if pre.get('bgr_to_rgb', False) else 'bgr',
            mean=_plain(pre.get('mean', [0.0, 0.0, 0.0])),
            std=_plain(pre.get('std', [1.0, 1.0, 1.0]))),
        codec=_plain(codec),
        test_cfg=_plain(cfg.model.get('test_cfg') or {}),
        pipeline=pipeline_facts(cfg, bottomup),
        dataset=dict(
            name=meta.get('dataset_name'),
            keypoint_names=[names[i] for i in sorted(names)],
            flip_indices=_plain(meta.get('flip_indices', [])),
            skeleton=_plain(meta.get('skeleton_links', [])),
            sigmas=_plain(meta.get('sigmas', []))),
        rescore=None,
        source=dict(
            config=config_name or cfg.filename,
            checkpoint=os.path.basename(ckpt) if ckpt else None,
            checkpoint_sha256=sha256_file(ckpt) if ckpt and os.path.isfile(ckpt) else None,
            exported_by=f'mmpose_attn {__version__}'))


def write_with_metadata(model_proto, out: str, meta: dict) -> None:
    """Write an ONNX ``ModelProto`` to ``out`` with ``meta`` under :data:`KEY`, atomically.

    The file is the model's own bytes B followed by a ModelProto holding only the metadata entry
    (protobuf merges concatenated messages); ``meta['integrity']`` records ``len(B)`` and
    ``sha256(B)``.
    """
    import onnx
    kept = [p for p in model_proto.metadata_props if p.key != KEY]
    del model_proto.metadata_props[:]
    model_proto.metadata_props.extend(kept)
    graph = model_proto.SerializeToString()
    meta = dict(
        meta,
        integrity=dict(graph_bytes=len(graph), graph_sha256=hashlib.sha256(graph).hexdigest()))
    tail = onnx.ModelProto()
    tail.metadata_props.add(key=KEY, value=json.dumps(meta))
    tmp = f'{out}.tmp{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(graph + tail.SerializeToString())
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def parse_metadata(source: str, props: dict) -> dict:
    """The deployment metadata from a file's ``metadata_props`` (a ``{key: value}`` dict); a clear
    error where it is missing or newer than this reader."""
    if KEY not in props:
        raise ValueError(f'{source} carries no {KEY} metadata (it was exported by an older version '
                         'or another tool): export it again with tools/deployment/export_onnx.py')
    meta = json.loads(props[KEY])
    if int(meta.get('format', 0)) > FORMAT:
        raise ValueError(f'{source}: metadata format {meta.get("format")} is newer than this '
                         f'reader ({FORMAT}): update mmpose_attn')
    return meta


def read_metadata(path: str) -> dict:
    """The deployment metadata of an exported ONNX file (see :func:`parse_metadata`)."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    return parse_metadata(path, {p.key: p.value for p in model.metadata_props})


def check_integrity(path: str, meta: dict) -> None:
    """Refuse a file whose graph bytes differ from those hashed at export (a garbled or edited
    file)."""
    info = meta.get('integrity') or {}
    size, want = info.get('graph_bytes'), info.get('graph_sha256')
    if size is None or want is None:
        raise ValueError(f'{path}: its metadata has no integrity record: export it again with '
                         'tools/deployment/export_onnx.py')
    if os.path.getsize(path) < size or sha256_file(path, size) != want:
        raise ValueError(f'{path} is damaged: its graph does not match the sha256 recorded at '
                         'export (a truncated, garbled or edited file); export it again with '
                         'tools/deployment/export_onnx.py')


def read_ir_metadata(path: str) -> dict:
    """The deployment metadata of an OpenVINO IR ``.xml`` written by
    ``tools/deployment/quantize.py``: the net's rt_info entry :data:`KEY` (the same JSON), read
    from the XML alone (neither OpenVINO nor the ``.bin`` is needed; see :func:`parse_metadata`)."""
    import xml.etree.ElementTree as ET
    try:
        rt_info = ET.parse(path).getroot().find('rt_info')
    except ET.ParseError as e:
        raise ValueError(f'{path} is not an OpenVINO IR XML file ({e})') from e
    entry = rt_info.find(KEY) if rt_info is not None else None
    return parse_metadata(path, {} if entry is None else {KEY: entry.get('value')})


def check_ir_integrity(path: str, meta: dict) -> None:
    """Refuse an IR whose ``.bin`` (weights) differs from the one hashed when it was written."""
    info = meta.get('integrity') or {}
    weights = os.path.join(os.path.dirname(path), info.get('weights_file', ''))
    if 'weights_sha256' not in info:
        raise ValueError(f'{path}: its metadata has no weights integrity record: write it again '
                         'with tools/deployment/quantize.py')
    if (not os.path.isfile(weights) or os.path.getsize(weights) != info['weights_bytes']
            or sha256_file(weights) != info['weights_sha256']):
        raise ValueError(f'{path}: its weights {weights} do not match the sha256 recorded when it '
                         'was written (a missing, truncated or replaced .bin); write it again '
                         'with tools/deployment/quantize.py')
