"""tools/deployment/quantize.py: INT8 (NNCF) and fp16 files from an exported model, calibrated on
the real COCO samples, close to fp32 and carrying the same metadata."""
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('onnxruntime')
pytest.importorskip('openvino')
pytest.importorskip('nncf')

from _demo_tools import load_tool  # noqa: E402

from mmpose_attn.deployment import export as dx  # noqa: E402
from mmpose_attn.deployment import metadata as md  # noqa: E402
from mmpose_attn.deployment import onnxruntime_backend as ortb  # noqa: E402
# yapf: disable
from mmpose_attn.deployment.preprocess import (calibration_inputs, image_files,  # noqa: E402
                                               read_boxes)
# yapf: enable
from mmpose_attn.utils import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ESAM = str(ROOT / 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py')
SAMKR = str(ROOT / 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py')
# |INT8 - fp32| / max |fp32| per output on these random-weight models and the 4 COCO images,
# measured 2026-12-08: largest 0.083, mean 0.0053 (bottom-up; top-down below both); the bounds
# leave 3-4x margin
INT8_MAX, INT8_MEAN = 0.25, 0.02
# fp16 weights, f32 compute: measured largest 2.6e-4
FP16_MAX = 2e-3


def _export(config, path, hw, **kw):
    cfg = load_config(config)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_export_model(cfg, 'none')
    dx.export_onnx(model, str(path), hw, **kw)
    return str(path)


def _ov(path):
    import openvino as ov
    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(path), 'CPU', {
            'INFERENCE_NUM_THREADS': 1,
            'INFERENCE_PRECISION_HINT': 'f32'
        })
    return lambda x: [compiled(x)[o] for o in compiled.outputs]


def _ort(path):
    session = ortb.ort_session(path, threads=1)
    return lambda x: session.run(None, {'input': x})


def _rel_diff(run, ref_run, inputs):
    """The largest and the mean |output - reference| over all outputs, relative to max |ref|."""
    worst = mean = 0.0
    for x in inputs:
        for got, ref in zip(run(x), ref_run(x)):
            assert got.shape == ref.shape
            diff = np.abs(got - ref) / np.abs(ref).max()
            worst, mean = max(worst, float(diff.max())), max(mean, float(diff.mean()))
    return worst, mean


def _within(diffs, largest, mean):
    return diffs[0] <= largest and diffs[1] <= mean


def _same_metadata(meta, fp32_meta, precision):
    q = meta.pop('quantization')
    assert q['precision'] == precision
    assert q['source_graph_sha256'] == fp32_meta['integrity']['graph_sha256']
    meta.pop('integrity'), fp32_meta.pop('integrity')
    assert meta == fp32_meta  # everything else as exported
    return q


@pytest.mark.shared_data
def test_topdown_int8_from_coco_boxes(shared_data, tmp_path):
    tool = load_tool('deployment/quantize')
    src = _export(ESAM, tmp_path / 'esam.onnx', (128, 96))
    fp32_meta = md.read_metadata(src)
    coco = shared_data / 'coco'
    boxes = str(coco / 'detections/test_coco_det_AP_H_56.json')
    common = [src, '--images', str(coco / 'images'), '--bbox-file', boxes, '--samples', '24']
    xml = str(tmp_path / 'esam_int8.xml')
    tool.main(common + ['--out', xml])
    assert sorted(p.name
                  for p in tmp_path.iterdir()) == ['esam.onnx', 'esam_int8.bin', 'esam_int8.xml']
    meta = md.read_ir_metadata(xml)
    md.check_ir_integrity(xml, meta)
    q = _same_metadata(dict(meta), md.read_metadata(src), 'int8')
    assert q['calibration'] == dict(images=4, inputs=24, boxes=Path(boxes).name)
    # the crops the calibration saw: INT8 (OpenVINO) close to fp32 (ONNX Runtime)
    crops = [
        x
        for _, x in calibration_inputs(fp32_meta, image_files(str(coco /
                                                                  'images')), read_boxes(boxes), 8)
    ]
    assert len(crops) == 8 and crops[0].shape == (1, 3, 128, 96)
    assert _within(_rel_diff(_ov(xml), _ort(src), crops), INT8_MAX, INT8_MEAN)
    # the QDQ ONNX file for ONNX Runtime: same metadata, its own graph hash
    qdq = str(tmp_path / 'esam_int8.onnx')
    tool.main(common + ['--out', qdq])
    meta = md.read_metadata(qdq)
    md.check_integrity(qdq, meta)
    _same_metadata(meta, md.read_metadata(src), 'int8')
    assert _within(_rel_diff(_ort(qdq), _ort(src), crops), INT8_MAX, INT8_MEAN)
    # a replaced .bin is refused
    Path(xml).with_suffix('.bin').write_bytes(b'\0' * 16)
    with pytest.raises(
            ValueError, match=r'esam_int8.xml: its weights .*esam_int8.bin do not '
            'match the sha256'):
        md.check_ir_integrity(xml, md.read_ir_metadata(xml))


@pytest.mark.shared_data
def test_bottomup_int8_at_any_shape(shared_data, tmp_path):
    src = _export(SAMKR, tmp_path / 'samkr.onnx', (64, 64), dynamic_hw=True)
    xml = str(tmp_path / 'samkr_int8.xml')
    images = str(shared_data / 'coco' / 'images')
    load_tool('deployment/quantize').main([src, '--images', images, '--out', xml])
    meta = md.read_ir_metadata(xml)
    q = _same_metadata(dict(meta), md.read_metadata(src), 'int8')
    assert q['calibration'] == dict(images=4, inputs=4, boxes=None)
    # the four photos resized as the pipeline does (256 on the short side, multiples of 32), and
    # one crop of another shape
    inputs = [x for _, x in calibration_inputs(meta, image_files(images), None, 4)]
    assert sorted({x.shape[2:] for x in inputs}) == [(256, 384), (256, 416), (256, 448)]
    assert _within(
        _rel_diff(_ov(xml), _ort(src), inputs + [inputs[0][..., :192, :256]]), INT8_MAX, INT8_MEAN)


def test_fp16_weights_and_refusals(tmp_path):
    tool = load_tool('deployment/quantize')
    src = _export(ESAM, tmp_path / 'esam.onnx', (128, 96))
    xml = str(tmp_path / 'esam_fp16.xml')
    tool.main([src, '--precision', 'fp16', '--out', xml])
    q = _same_metadata(md.read_ir_metadata(xml), md.read_metadata(src), 'fp16')
    assert 'calibration' not in q
    assert Path(xml).with_suffix('.bin').stat().st_size < 0.6 * Path(src).stat().st_size
    x = np.random.default_rng(0).standard_normal((2, 3, 128, 96), dtype=np.float32)
    assert _rel_diff(_ov(xml), _ort(src), [x])[0] <= FP16_MAX
    with pytest.raises(ValueError, match='--precision int8 needs --images DIR'):
        tool.main([src, '--out', str(tmp_path / 'a.xml')])
    with pytest.raises(ValueError, match='the ONNX output is int8'):
        tool.main([src, '--precision', 'fp16', '--out', str(tmp_path / 'a.onnx')])
    with pytest.raises(ValueError, match='write an OpenVINO IR, FILE.xml'):
        tool.main([src, '--precision', 'fp16', '--out', str(tmp_path / 'a.bin')])
    assert sorted(p.name
                  for p in tmp_path.iterdir()) == ['esam.onnx', 'esam_fp16.bin', 'esam_fp16.xml']
