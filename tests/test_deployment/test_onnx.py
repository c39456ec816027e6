"""ONNX export of bottom-up models (SAMKR, stock DEKR) and ONNX Runtime as their backend."""
import copy
import os.path as osp
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from mmengine.dataset import pseudo_collate  # noqa: E402
from mmpose.structures import PoseDataSample  # noqa: E402

from mmpose_attn.deployment import export as dx  # noqa: E402
from mmpose_attn.deployment import onnxruntime_backend as ortb  # noqa: E402
from mmpose_attn.utils import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SYNTH = str(ROOT / 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py')
# small input: the synthetic model's graph is exported at 64x64 in about a second
HW = (64, 64)
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _in_opset(op_type, opset):
    from onnx import defs
    try:
        defs.get_schema(op_type, opset, '')
        return True
    except defs.SchemaError:
        return False


def _synthetic_model(head_type='SAMKRHead'):
    cfg = load_config(SYNTH)
    if head_type == 'DEKRHead':  # stock mmpose DEKR head on the same backbone (mmcv DeformConv2d)
        head = cfg.model.head
        cfg.model.head = dict(
            type='DEKRHead',
            in_channels=head.in_channels,
            num_keypoints=17,
            num_displacement_filters_per_keypoint=15,
            heatmap_loss=head.heatmap_loss,
            displacement_loss=head.displacement_loss,
            decoder=head.decoder,
            rescore_cfg=None)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return cfg, dx.build_export_model(cfg, 'none')


@pytest.mark.parametrize('head_type', ['SAMKRHead', 'DEKRHead'])
def test_bottomup_export_parity(head_type, tmp_path):
    import onnx
    from mmcv.ops import DeformConv2d
    _, model = _synthetic_model(head_type)
    has_mmcv_deform = any(type(m) is DeformConv2d for m in model.modules())
    assert has_mmcv_deform == (head_type == 'DEKRHead')
    out = str(tmp_path / 'model.onnx')
    dx.export_onnx(model, out, HW)
    nodes = onnx.load(out).graph.node
    ops = {n.op_type for n in nodes}
    assert 'GridSample' in ops
    # standard ONNX only: every node in the default domain, i.e. no mmcv custom op
    assert {n.domain for n in nodes} <= {'', 'ai.onnx'}
    # the adaptive blocks' offsets without mmpose's 6-D permutes (slow in ONNX Runtime)
    perms = [list(a.ints) for n in nodes if n.op_type == 'Transpose' for a in n.attribute]
    assert all(len(p) < 6 for p in perms), perms
    # the one op that keeps the graph off opset 11 (mmdeploy's default): the deformable convs'
    # GridSample (opset 16); ULSAM's convs run as modules and export at opset 11
    assert {op for op in ops if not _in_opset(op, 11)} == {'GridSample'}
    session = ortb.ort_session(out, threads=1)
    x = torch.randn(3, 3, *HW, generator=torch.Generator().manual_seed(1))  # exported at batch 1
    res = dx.parity(model, session, x)
    assert res['heatmaps']['shape'] == (3, 18, 16, 16)
    assert res['displacements']['shape'] == (3, 34, 16, 16)
    for r in res.values():
        assert r['max_abs_diff'] <= r['tol'] == dx.ATOL + dx.RTOL * r['max_abs_ref'], r


def _batch(n, h, w):
    gen = torch.Generator().manual_seed(2)
    items = []
    for _ in range(n):
        img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen)
        sample = PoseDataSample(
            metainfo=dict(
                img_shape=(h, w),
                ori_shape=(h, w),
                input_size=(w, h),
                flip_indices=COCO_FLIP,
                input_center=np.array([w / 2, h / 2], dtype=np.float32),
                input_scale=np.array([w, h], dtype=np.float32)))
        items.append(dict(inputs=img, data_samples=sample))
    return pseudo_collate(items)


def test_onnxruntime_backend_predictions_equal_pytorch(tmp_path):
    _, model = _synthetic_model()
    model.test_cfg['flip_test'] = True  # the flipped batch goes through the session too
    out = str(tmp_path / 'model.onnx')
    dx.export_onnx(model, out, HW)
    ort_model = ortb.use_onnxruntime(copy.deepcopy(model), out, threads=1)
    assert isinstance(ort_model.backbone, ortb.OnnxRuntimeForward) and ort_model.neck is None
    data = _batch(2, *HW)
    with torch.no_grad():
        ref = model.test_step(copy.deepcopy(data))
        got = ort_model.test_step(copy.deepcopy(data))
    assert len(ref) == len(got) == 2
    for r, g in zip(ref, got):
        rk, gk = r.pred_instances.keypoints, g.pred_instances.keypoints
        assert rk.shape[0] > 0 and rk.shape == gk.shape
        np.testing.assert_allclose(gk, rk, atol=1e-3)
        np.testing.assert_allclose(
            g.pred_instances.keypoint_scores, r.pred_instances.keypoint_scores, atol=1e-4)


def test_onnxruntime_backend_refuses_wrong_size(tmp_path):
    _, model = _synthetic_model()
    out = str(tmp_path / 'model.onnx')
    dx.export_onnx(model, out, HW)
    ort_model = ortb.use_onnxruntime(model, out, threads=1)
    # another size cannot be fixed by exporting at it (the next image has yet another size)
    with pytest.raises(
            ValueError,
            match=r'takes only inputs of 64x64 .* got an input of 96x64'
            r'.* any-shape support: .*--dynamic-hw'):
        ort_model.test_step(_batch(1, 96, 64))


def test_use_onnxruntime_refuses_a_head_it_cannot_bypass(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_export_model(
            str(ROOT / 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_'
                'synthetic-coco-128x96.py'), 'none')
    model.head = torch.nn.Linear(2, 2)  # neither a heatmap nor a DEKR-style head
    with pytest.raises(ValueError, match='other backends run DEKR-style bottom-up heads'):
        ortb.use_onnxruntime(model, str(tmp_path / 'x.onnx'))
    assert not osp.exists(tmp_path / 'x.onnx')


def test_bottomup_demo_onnxruntime_backend_matches_pytorch(tmp_path):
    import json

    import cv2
    from _demo_tools import load_tool
    cfg, model = _synthetic_model()
    ckpt = str(tmp_path / 'samkr.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    out = str(tmp_path / 'samkr.onnx')
    # the demo resizes a square image to the codec input size, 256x256
    load_tool('deployment/export_onnx').main([
        SYNTH, '--checkpoint', ckpt, '--out', out, '--check-batch', '1', '--repeats', '1',
        '--threads', '1'
    ])
    img = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'img.png'), img)
    demo = load_tool('bottomup_demo')
    results = {}
    for backend in ('pytorch', 'onnxruntime'):
        root = tmp_path / backend
        extra = (['--backend', 'onnxruntime', '--onnx', out]
                 if backend == 'onnxruntime' else ['--precision', 'fp32'])
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter('always')
            demo.main([
                SYNTH, ckpt if backend == 'pytorch' else 'none', '--input',
                str(tmp_path / 'img.png'), '--output-root',
                str(root), '--save-predictions', '--device', 'cpu'
            ] + extra)
        # checkpoint none with the ONNX backend: the file's weights are used, nothing is random
        assert not [w for w in seen if w.category.__name__ == 'RandomWeightsWarning']
        results[backend] = json.loads(next(root.rglob('results_img.json')).read_text())
    ref, got = (r['instance_info'] for r in (results['pytorch'], results['onnxruntime']))
    assert len(ref) == len(got) > 0
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g['keypoints'], r['keypoints'], atol=1e-2)
        np.testing.assert_allclose(g['keypoint_scores'], r['keypoint_scores'], atol=1e-4)


def test_bottomup_demo_onnxruntime_needs_onnx_file(tmp_path):
    from _demo_tools import load_tool
    demo = load_tool('bottomup_demo')
    with pytest.raises(FileNotFoundError, match='--backend onnxruntime needs --onnx FILE'):
        demo.main([
            SYNTH, 'none', '--input',
            str(ROOT / 'tests'), '--backend', 'onnxruntime', '--onnx',
            str(tmp_path / 'missing.onnx')
        ])
