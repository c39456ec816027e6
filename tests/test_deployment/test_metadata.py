"""The deployment metadata an exported ONNX file carries, and its integrity check."""
import json
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from mmpose_attn.deployment import export as dx  # noqa: E402
from mmpose_attn.deployment import metadata as md  # noqa: E402
from mmpose_attn.utils import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ESAM = ROOT / 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py'
SAMKR = ROOT / 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py'


def _export(config, tmp_path, hw, checkpoint=None):
    cfg = load_config(str(config))
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_export_model(cfg, 'none')
    if checkpoint is not None:
        torch.save({'state_dict': model.state_dict()}, checkpoint)
    out = str(tmp_path / 'model.onnx')
    dx.export_onnx(model, out, hw, checkpoint=checkpoint)
    return cfg, model, out


def test_topdown_metadata_states_the_config(tmp_path):
    import onnxruntime as ort
    ckpt = str(tmp_path / 'w.pth')
    cfg, model, out = _export(ESAM, tmp_path, (128, 96), checkpoint=ckpt)
    meta = md.read_metadata(out)
    # ONNX Runtime reads the appended metadata entry as the file's own
    props = ort.InferenceSession(out).get_modelmeta().custom_metadata_map
    assert json.loads(props[md.KEY]) == meta
    assert meta['kind'] == 'topdown' and meta['outputs'] == ['heatmaps']
    assert meta['input']['size'] == list(cfg.codec['input_size']) == [96, 128]
    assert meta['input']['channel_order'] == 'rgb'
    assert meta['input']['mean'] == list(cfg.model.data_preprocessor.mean)
    assert meta['codec']['type'] == 'MSRAHeatmap' and meta['codec']['unbiased'] is True
    assert meta['test_cfg'] == {'flip_test': False}
    assert meta['pipeline'] == dict(
        type='TopdownAffine', input_size=[96, 128], use_udp=False, padding=1.25)
    names = model.dataset_meta['keypoint_id2name']
    assert meta['dataset']['keypoint_names'] == [names[i] for i in range(17)]
    assert meta['dataset']['flip_indices'] == list(model.dataset_meta['flip_indices'])
    assert meta['source']['checkpoint'] == 'w.pth'
    assert meta['source']['checkpoint_sha256'] == md.sha256_file(ckpt)
    md.check_integrity(out, meta)


def test_bottomup_metadata_and_damaged_file(tmp_path):
    _, _, out = _export(SAMKR, tmp_path, (64, 64))
    meta = md.read_metadata(out)
    assert meta['kind'] == 'bottomup' and meta['outputs'] == ['heatmaps', 'displacements']
    assert meta['codec']['type'] == 'SPR'
    assert meta['pipeline']['type'] == 'BottomupResize'
    assert meta['pipeline']['size_factor'] == 32
    assert meta['source']['checkpoint'] is None
    data = bytearray(Path(out).read_bytes())
    data[len(data) // 3] ^= 0xFF
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match='bad.onnx is damaged'):
        md.check_integrity(str(bad), meta)


def test_file_without_metadata_is_refused(tmp_path):
    with pytest.raises(ValueError, match='export it again with tools/deployment/export_onnx.py'):
        md.parse_metadata('old.onnx', {})
