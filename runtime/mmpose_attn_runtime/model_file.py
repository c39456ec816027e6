"""Read the deployment metadata of an exported model file, and check the file's integrity.

The reader of the schema that ``mmpose_attn/deployment/metadata.py`` writes (restated here: this
package imports nothing of mmpose_attn). An ``.onnx`` file holds the JSON under the
``metadata_props`` key :data:`KEY`; it is read straight from the file's protobuf fields (no
``onnx`` package, and before any runtime parses the graph, so a damaged file is reported as such).
An OpenVINO IR ``.xml`` holds the same JSON in its ``rt_info`` under :data:`KEY`.
"""
import hashlib
import json
import os
from typing import Optional

#: The metadata key (ONNX ``metadata_props`` / OpenVINO ``rt_info``).
KEY = 'mmpose_attn.deploy'
#: The newest schema version this reader knows; a higher one is refused.
FORMAT = 1
#: ModelProto field number of ``metadata_props``.
_METADATA_PROPS = 14

EXPORT_AGAIN = 'export it again with tools/deployment/export_onnx.py'


class ModelFileError(ValueError):
    """A model file that the runtime cannot use: no or newer metadata, damaged."""


def _varint(buf: bytes, pos: int):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise IndexError('truncated varint')
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError('varint too long')


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message's top-level fields; value is the
    bytes of a length-delimited field, the int of a varint, None otherwise."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
            if pos > len(buf):
                raise IndexError('truncated field')
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise ValueError(f'wire type {wire}')
        yield num, wire, value


def onnx_metadata_props(path: str) -> dict:
    """The ``metadata_props`` of an ONNX file as ``{key: value}`` (the last entry of a key wins,
    as protobuf merges repeated messages)."""
    with open(path, 'rb') as f:
        data = f.read()
    props = {}
    try:
        for num, wire, value in _fields(data):
            if num == _METADATA_PROPS and wire == 2:
                entry = {n: v for n, w, v in _fields(value) if w == 2}
                props[entry.get(1, b'').decode('utf-8')] = entry.get(2, b'').decode('utf-8')
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f'{path} is damaged or not an ONNX file (its protobuf does not '
                             f'parse: {e}); {EXPORT_AGAIN}') from e
    return props


def parse_metadata(source: str, text: Optional[str]) -> dict:
    """The metadata dict from its JSON text; a clear error where it is missing, unreadable or
    newer than this reader."""
    if text is None:
        raise ModelFileError(
            f'{source} carries no {KEY} metadata (it was exported by an older version or another '
            f'tool), so the runtime cannot tell how to run it: {EXPORT_AGAIN}')
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFileError(f'{source}: its {KEY} metadata is not valid JSON ({e}); the file is '
                             f'damaged: {EXPORT_AGAIN}') from e
    if not isinstance(meta, dict) or 'format' not in meta or 'kind' not in meta:
        raise ModelFileError(f'{source}: its {KEY} metadata lacks "format"/"kind"; '
                             f'{EXPORT_AGAIN}')
    if int(meta['format']) > FORMAT:
        raise ModelFileError(
            f'{source}: metadata format {meta["format"]} is newer than this runtime reads '
            f'({FORMAT}): update mmpose-attn-runtime (pip install -U ./runtime)')
    if meta['kind'] not in ('topdown', 'bottomup'):
        raise ModelFileError(f'{source}: unknown model kind {meta["kind"]!r} in its metadata')
    return meta


def _sha256_prefix(path: str, size: int) -> str:
    digest = hashlib.sha256()
    left = size
    with open(path, 'rb') as f:
        while left > 0:
            chunk = f.read(min(1 << 20, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def check_integrity(path: str, meta: dict) -> None:
    """Refuse an ONNX file whose graph bytes differ from those hashed at export (when the
    metadata has an integrity record)."""
    info = meta.get('integrity') or {}
    size, want = info.get('graph_bytes'), info.get('graph_sha256')
    if size is None or want is None:
        return
    if os.path.getsize(path) < int(size) or _sha256_prefix(path, int(size)) != want:
        raise ModelFileError(
            f'{path} is damaged: its graph does not match the sha256 recorded at export (a '
            f'truncated, garbled or edited file); {EXPORT_AGAIN}')


def read_onnx_metadata(path: str) -> dict:
    """The checked metadata of an exported ``.onnx`` file."""
    meta = parse_metadata(path, onnx_metadata_props(path).get(KEY))
    check_integrity(path, meta)
    return meta


def read_openvino_metadata(path: str, model) -> dict:
    """The metadata of an OpenVINO ``.xml`` model (its ``rt_info`` entry :data:`KEY`)."""
    text = None
    if model.has_rt_info(KEY):
        text = model.get_rt_info(KEY).astype(str)
    return parse_metadata(path, text)


def check_file(path: str) -> str:
    """``'onnx'`` or ``'openvino'`` by the file's extension; a clear error for anything else."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'model file {path!r} does not exist')
    ext = os.path.splitext(path)[1].lower()
    if ext == '.onnx':
        return 'onnx'
    if ext == '.xml':
        if not os.path.isfile(os.path.splitext(path)[0] + '.bin'):
            raise FileNotFoundError(f'{path}: the OpenVINO weights '
                                    f'{os.path.splitext(path)[0]}.bin are not beside it')
        return 'openvino'
    raise ModelFileError(f'{path}: a model file is an .onnx written by '
                         'tools/deployment/export_onnx.py or an OpenVINO .xml (with its .bin)')
