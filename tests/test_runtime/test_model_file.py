"""What the runtime accepts as a model file: the metadata is required, a newer format and a
damaged file are refused with what to do, and the runtime never imports the training stack."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip('onnx')  # the tests export their models

from mmpose_attn_runtime import BottomUp, ModelFileError, TopDown  # noqa: E402
from mmpose_attn_runtime import model_file as mf  # noqa: E402


def _graph_and_meta(path):
    data = Path(path).read_bytes()
    meta = mf.read_onnx_metadata(path)
    return data[:meta['integrity']['graph_bytes']], meta


def _with_metadata(graph: bytes, meta: dict) -> bytes:
    import onnx
    tail = onnx.ModelProto()
    tail.metadata_props.add(key=mf.KEY, value=json.dumps(meta))
    return graph + tail.SerializeToString()


def test_metadata_is_read_as_onnxruntime_reads_it(esam_onnx):
    import onnxruntime as ort
    props = ort.InferenceSession(esam_onnx).get_modelmeta().custom_metadata_map
    assert mf.read_onnx_metadata(esam_onnx) == json.loads(props[mf.KEY])
    model = TopDown(esam_onnx)
    assert model.input_size == (96, 128) and model.flip_test
    assert model.keypoint_names[0] == 'nose' and len(model.skeleton) == 19


def test_file_without_metadata_is_refused(esam_onnx, tmp_path):
    graph, _ = _graph_and_meta(esam_onnx)  # the exported graph before its metadata entry
    bare = tmp_path / 'bare.onnx'
    bare.write_bytes(graph)
    with pytest.raises(
            ModelFileError,
            match='bare.onnx carries no mmpose_attn.deploy metadata '
            r'.*export it again with tools/deployment/export_onnx.py'):
        TopDown(str(bare))


def test_newer_format_is_refused(esam_onnx, tmp_path):
    graph, meta = _graph_and_meta(esam_onnx)
    newer = tmp_path / 'newer.onnx'
    newer.write_bytes(_with_metadata(graph, dict(meta, format=mf.FORMAT + 1)))
    with pytest.raises(
            ModelFileError,
            match=r'newer.onnx: metadata format 2 is newer than this '
            r'runtime reads \(1\): update mmpose-attn-runtime'):
        TopDown(str(newer))


@pytest.mark.parametrize('damage', ['flip', 'truncate'])
def test_damaged_file_is_refused(esam_onnx, tmp_path, damage):
    graph, meta = _graph_and_meta(esam_onnx)
    if damage == 'flip':  # one byte inside a weight: still parses, the hash catches it
        data = bytearray(Path(esam_onnx).read_bytes())
        data[len(graph) * 2 // 3] ^= 0x01
        data = bytes(data)
    else:  # the graph cut short, the metadata kept
        data = _with_metadata(graph[:len(graph) // 2], meta)
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(data)
    with pytest.raises(ModelFileError, match='bad.onnx is damaged'):
        TopDown(str(bad))


def test_wrong_kind_and_size_are_refused(esam_onnx, samkr_onnx):
    with pytest.raises(ValueError, match='holds a topdown model: use TopDown'):
        BottomUp(esam_onnx)
    model = BottomUp(samkr_onnx)
    with pytest.raises(
            ValueError,
            match=r'takes inputs of H x W = 256 x 416 only, got 256 x 384'
            r': export it again with --shape 256 384'):
        model(np.zeros((429, 640, 3), np.uint8))  # resizes to 256 x 384


HEAVY = ('torch', 'mmcv', 'mmengine', 'mmpose', 'mmpose_attn', 'mmdet')

ISOLATED = """
import sys, numpy as np
from mmpose_attn_runtime import TopDown, BottomUp, draw
img = (np.arange(200 * 300 * 3) % 251).astype(np.uint8).reshape(200, 300, 3)
k, s = TopDown(sys.argv[1])(img, np.array([[10, 20, 150, 190]], np.float32))
assert k.shape == (1, 17, 2) and s.shape == (1, 17)
img = np.zeros((425, 640, 3), np.uint8)
k, s = BottomUp(sys.argv[2])(img)
draw(img, k, s, [(0, 1)])
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy})
print('HEAVY', heavy)
"""


def test_runtime_imports_no_training_stack(esam_onnx, samkr_onnx):
    code = ISOLATED.replace('{heavy}', repr(set(HEAVY)))
    proc = subprocess.run([sys.executable, '-c', code, esam_onnx, samkr_onnx],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'HEAVY []' in proc.stdout, proc.stdout


def test_openvino_backend_and_ir_file(esam_onnx, tmp_path):
    ov = pytest.importorskip('openvino')
    rng = np.random.default_rng(0)
    img = cv2.resize(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8), (300, 200))
    boxes = np.array([[10, 20, 150, 190], [100, 5, 290, 180]], np.float32)
    ref_k, ref_s = TopDown(esam_onnx, threads=1)(img, boxes)
    k, s = TopDown(esam_onnx, backend='openvino', threads=1)(img, boxes)
    # OpenVINO's fp32 kernels differ from ONNX Runtime's in rounding only
    assert np.abs(k - ref_k).max() < 0.01 and np.abs(s - ref_s).max() < 1e-5
    # an IR carries the same metadata in its rt_info
    model = ov.Core().read_model(esam_onnx)
    model.set_rt_info(json.dumps(mf.read_onnx_metadata(esam_onnx)), mf.KEY)
    ov.save_model(model, str(tmp_path / 'esam.xml'), compress_to_fp16=False)
    k2, _ = TopDown(str(tmp_path / 'esam.xml'), backend='openvino', threads=1)(img, boxes)
    np.testing.assert_allclose(k2, k, atol=1e-3)
    model = ov.Core().read_model(esam_onnx)  # an IR without it
    ov.save_model(model, str(tmp_path / 'bare.xml'))
    with pytest.raises(ModelFileError, match='bare.xml carries no mmpose_attn.deploy metadata'):
        TopDown(str(tmp_path / 'bare.xml'), backend='openvino')
