"""ONNX export: bottom-up files at any image shape, and the export's up-front refusals."""
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from mmpose.models.necks import FeatureMapProcessor  # noqa: E402

from mmpose_attn.deployment import export as dx  # noqa: E402
from mmpose_attn.deployment import metadata as md  # noqa: E402
from mmpose_attn.deployment import onnxruntime_backend as ortb  # noqa: E402
from mmpose_attn.utils import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SYNTH = str(ROOT / 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py')
ESAM = str(ROOT / 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py')
W32 = str(ROOT / 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py')
# 512x512, 512x800 (a COCO photo resized to 512 on its short side), 800x512 and 1024x1600 (scale 2
# of a multi-scale test) at one eighth, rounded to multiples of 32: the synthetic model is small
SIZES = [(64, 64), (64, 96), (96, 64), (128, 192)]


def _model(config=SYNTH, head_type='SAMKRHead', **head):
    cfg = load_config(config)
    if config == W32:
        cfg.model.backbone.init_cfg = None  # random weights, nothing downloaded
    if head_type == 'DEKRHead':  # stock mmpose DEKR head on the same backbone (mmcv DeformConv2d)
        h = cfg.model.head
        cfg.model.head = dict(
            type='DEKRHead',
            in_channels=h.in_channels,
            num_keypoints=17,
            num_displacement_filters_per_keypoint=15,
            heatmap_loss=h.heatmap_loss,
            displacement_loss=h.displacement_loss,
            decoder=h.decoder,
            rescore_cfg=None)
    cfg.model.head.update(head)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return dx.build_export_model(cfg, 'none')


def _check(model, session, hw):
    x = torch.randn(1, 3, *hw, generator=torch.Generator().manual_seed(hw[0] + hw[1]))
    res = dx.parity(model, session, x)
    for r in res.values():
        # PyTorch's output shape (a quarter of the input) and values at this size
        assert r['shape'] == r['ref_shape'] and r['shape'][2:] == (hw[0] // 4, hw[1] // 4), r
        assert r['max_abs_diff'] <= r['tol'], r
    return res


@pytest.mark.parametrize('head_type', ['SAMKRHead', 'DEKRHead'])
def test_bottomup_file_runs_at_any_shape(head_type, tmp_path):
    model = _model(head_type=head_type)
    out = str(tmp_path / 'model.onnx')
    dx.export_onnx(model, out, (64, 64), dynamic_hw=True)
    meta = md.read_metadata(out)
    assert meta['input']['dynamic_hw'] is True and meta['input']['export_hw'] == [64, 64]
    session = ortb.ort_session(out, threads=1)
    assert session.get_inputs()[0].shape[2:] == ['height', 'width']
    for hw in SIZES:
        _check(model, session, hw)


@pytest.mark.slow
def test_samkr_w32_file_runs_at_512x800(tmp_path):
    # the real config at its real size: traced at 512x512, run on a 512x800 COCO-shaped input
    model = _model(W32)
    out = str(tmp_path / 'w32.onnx')
    dx.export_onnx(model, out, (512, 512), dynamic_hw=True)
    res = _check(model, ortb.ort_session(out, threads=2), (512, 800))
    assert res['heatmaps']['shape'] == (1, 18, 128, 200)


def test_dynamic_hw_refuses_a_graph_that_keeps_its_traced_size(tmp_path):
    model = _model()
    # a neck subclass the export does not know: mmpose's resize makes the traced size a constant
    model.neck.__class__ = type('MyNeck', (FeatureMapProcessor, ), {})
    out = tmp_path / 'model.onnx'
    with pytest.raises(
            ValueError,
            match=r'not shape-generic: at input \(32, 96\) \(traced at '
            r'\(64, 64\)\).*heatmaps: shape \(1, 18, 16, 16\) vs PyTorch '
            r'\(1, 18, 8, 24\).*Export with --no-dynamic-hw'):
        dx.export_onnx(model, str(out), (64, 64), dynamic_hw=True)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    # the same model at a fixed size is fine
    dx.export_onnx(model, str(out), (64, 64))
    assert md.read_metadata(str(out))['input']['dynamic_hw'] is False


def test_shape_is_checked_before_tracing(tmp_path):
    with pytest.raises(
            ValueError,
            match=r'--shape 250 250: a bottom-up model takes heights and '
            r'widths that are multiples of 32 .* use --shape 256 256'):
        dx.export_onnx(_model(), str(tmp_path / 'a.onnx'), (250, 250))
    esam = _model(ESAM)
    with pytest.raises(
            ValueError,
            match=r'--shape 256 192: a top-down model takes crops of the '
            r'codec input_size \(96, 128\) \(W, H\).*use --shape 128 96'):
        dx.export_onnx(esam, str(tmp_path / 'b.onnx'), (256, 192))
    with pytest.raises(ValueError, match='--dynamic-hw: a top-down model runs on crops of one'):
        dx.export_onnx(esam, str(tmp_path / 'c.onnx'), (128, 96), dynamic_hw=True)
    assert list(tmp_path.iterdir()) == []


def test_opset_16_only_for_deformable_convs(tmp_path):
    import onnx
    with pytest.raises(
            ValueError,
            match='--opset 11: this model has deformable convolutions, '
            'exported as GridSample, which needs --opset 16'):
        dx.export_onnx(_model(), str(tmp_path / 'samkr.onnx'), (64, 64), opset=11)
    # ESAM has none: it exports at opset 11 (mmdeploy's default) and matches PyTorch
    esam = _model(ESAM)
    out = str(tmp_path / 'esam.onnx')
    dx.export_onnx(esam, out, (128, 96), opset=11)
    assert onnx.load(out).opset_import[0].version == 11
    res = dx.parity(esam, ortb.ort_session(out, threads=1), torch.randn(2, 3, 128, 96))
    assert res['heatmaps']['shape'] == (2, 17, 32, 24)
    assert res['heatmaps']['max_abs_diff'] <= res['heatmaps']['tol']


def test_rescore_net_is_refused_with_the_fix(tmp_path):
    model = _model(head_type='DEKRHead', rescore_cfg=dict(in_channels=74, norm_indexes=(5, 6)))
    assert model.head.rescore_net is not None
    with pytest.raises(
            ValueError,
            match=r'DEKR rescore net \(model.head.rescore_cfg\).*--cfg-opt'
            r'ions model.head.rescore_cfg=None'):
        dx.export_onnx(model, str(tmp_path / 'a.onnx'), (64, 64))
    assert list(tmp_path.iterdir()) == []


def test_tool_exports_bottomup_any_shape_by_default(tmp_path):
    from _demo_tools import load_tool
    tool = load_tool('deployment/export_onnx')
    out = str(tmp_path / 'samkr.onnx')
    common = ['--checkpoint', 'none', '--check-batch', '1', '--repeats', '1', '--threads', '1']
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        # the synthetic config with a rescore net, taken out again on the command line
        cfg = load_config(SYNTH)
        cfg.model.head.rescore_cfg = dict(in_channels=74, norm_indexes=(5, 6))
        config = str(tmp_path / 'samkr_rescore.py')
        cfg.dump(config)
        with pytest.raises(ValueError, match='DEKR rescore net'):
            tool.main([config, '--out', out, '--shape', '64', '64'] + common)
        res = tool.main([
            config, '--out', out, '--shape', '64', '96', '--cfg-options',
            'model.head.rescore_cfg=None'
        ] + common)
    assert res['ok'] and res['dynamic_hw'] is True
    meta = md.read_metadata(out)
    assert meta['input']['dynamic_hw'] is True and meta['input']['export_hw'] == [64, 96]
    assert meta['rescore'] is None
    with pytest.raises(ValueError, match=r'--shape 250 250'):
        tool.main([SYNTH, '--out', out, '--shape', '250', '250'] + common)


def test_onnxruntime_backend_runs_non_square_images(tmp_path):
    """mmpose's decoding on the any-shape file: PyTorch's poses on a 64x96 and a 96x64 batch."""
    import copy

    import numpy as np
    from mmengine.dataset import pseudo_collate
    from mmpose.structures import PoseDataSample
    model = _model()
    out = str(tmp_path / 'model.onnx')
    dx.export_onnx(model, out, (64, 64), dynamic_hw=True)
    ort_model = ortb.use_onnxruntime(copy.deepcopy(model), out, threads=1)
    gen = torch.Generator().manual_seed(2)
    flip = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    for h, w in ((64, 96), (96, 64)):
        data = pseudo_collate([
            dict(
                inputs=torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen),
                data_samples=PoseDataSample(
                    metainfo=dict(
                        img_shape=(h, w),
                        ori_shape=(h, w),
                        input_size=(w, h),
                        flip_indices=flip,
                        input_center=np.array([w / 2, h / 2], dtype=np.float32),
                        input_scale=np.array([w, h], dtype=np.float32))))
        ])
        with torch.no_grad():
            ref = model.test_step(copy.deepcopy(data))[0].pred_instances
            got = ort_model.test_step(copy.deepcopy(data))[0].pred_instances
        assert ref.keypoints.shape[0] > 0 and got.keypoints.shape == ref.keypoints.shape
        np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-3)
        np.testing.assert_allclose(got.keypoint_scores, ref.keypoint_scores, atol=1e-4)
