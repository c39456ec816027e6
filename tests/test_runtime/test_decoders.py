"""The runtime's numpy restatements against mmpose 1.3.2's own functions, on random inputs."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmpose.codecs import SPR, MSRAHeatmap, UDPHeatmap
from mmpose.codecs.utils import batch_heatmap_nms
from mmpose.datasets.transforms import BottomupResize, GetBBoxCenterScale, TopdownAffine
from mmpose.evaluation.functional import nearby_joints_nms
from mmpose.models.heads import DEKRHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose_attn_runtime import decode as rd
from mmpose_attn_runtime import transforms as rt


def _peaked(rng, k, h, w, noise=0.05):
    """(k, h, w) float32 maps: one Gaussian bump per map plus noise (a clear maximum)."""
    ys, xs = np.mgrid[:h, :w]
    maps = []
    for _ in range(k):
        cx, cy = rng.uniform(0, w - 1), rng.uniform(0, h - 1)
        maps.append(np.exp(-((xs - cx)**2 + (ys - cy)**2) / (2 * 2.0**2)))
    return (np.stack(maps) + noise * rng.standard_normal((k, h, w))).astype(np.float32)


@pytest.mark.parametrize('unbiased', [True, False])
def test_msra_decode_equals_mmpose(unbiased):
    rng = np.random.default_rng(0)
    cfg = dict(input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5, unbiased=unbiased)
    ours = rd.HeatmapCodec(dict(cfg, type='MSRAHeatmap'))
    theirs = MSRAHeatmap(**cfg)
    for _ in range(5):
        hm = _peaked(rng, 17, 32, 24)
        k1, s1 = ours.decode(hm)
        k2, s2 = theirs.decode(hm)
        np.testing.assert_array_equal(k1, k2)
        np.testing.assert_array_equal(s1, s2)


def test_udp_decode_equals_mmpose():
    rng = np.random.default_rng(1)
    cfg = dict(input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    ours = rd.HeatmapCodec(dict(cfg, type='UDPHeatmap'))
    theirs = UDPHeatmap(**cfg)
    hm = _peaked(rng, 17, 64, 48)
    k1, s1 = ours.decode(hm)
    k2, s2 = theirs.decode(hm)
    np.testing.assert_allclose(k1, k2, atol=1e-5)
    np.testing.assert_array_equal(s1, s2)


@pytest.mark.parametrize('mode,group', [('heatmap', 1), ('offset', 2), ('udp_combined', 3)])
@pytest.mark.parametrize('shift', [True, False])
def test_flip_heatmaps_equals_mmpose(mode, group, shift):
    flip = [0, 2, 1, 4, 3]
    x = np.random.default_rng(2).standard_normal((2, 5 * group, 6, 7)).astype(np.float32)
    ref = flip_heatmaps(torch.from_numpy(x.copy()), flip, mode, shift).numpy()
    np.testing.assert_array_equal(rd.flip_heatmaps(x, flip, mode, shift), ref)


def test_heatmap_nms_equals_mmpose():
    x = np.random.default_rng(3).random((1, 1, 20, 30)).astype(np.float32)
    ref = batch_heatmap_nms(torch.from_numpy(x), 5).numpy()
    np.testing.assert_array_equal(rd.heatmap_nms(x, 5), ref)


def _spr_inputs(rng, k=17, h=32, w=40):
    heatmaps = _peaked(rng, k + 1, h, w, noise=0.02)
    heatmaps[-1] = 0.005 * rng.random((h, w))  # below decode_thr
    for y, x in ((4, 5), (4, 20), (15, 30), (20, 8), (27, 17), (27, 35)):  # six root peaks
        heatmaps[-1, y, x] = rng.uniform(0.2, 1)
    displacements = (4 * rng.standard_normal((2 * k, h, w))).astype(np.float32)
    return heatmaps, displacements


#: the SPR codec settings both decoding tests use (a small SAMKR-like input)
SPR_CFG = dict(
    input_size=(160, 128),
    heatmap_size=(40, 32),
    sigma=(4, 2),
    generate_keypoint_heatmaps=True,
    decode_max_instances=10)


def test_spr_decode_equals_mmpose():
    rng = np.random.default_rng(4)
    cfg = SPR_CFG
    heatmaps, displacements = _spr_inputs(rng)
    kpts, roots, scores = rd.SPRCodec(dict(cfg, type='SPR')).decode(heatmaps, displacements)
    ref_kpts, (ref_roots, ref_scores) = SPR(
        **cfg).decode(torch.from_numpy(heatmaps), torch.from_numpy(displacements))
    assert len(kpts) == 6
    np.testing.assert_allclose(kpts, ref_kpts.numpy(), atol=1e-5)
    np.testing.assert_array_equal(roots, ref_roots.numpy())
    np.testing.assert_allclose(scores, ref_scores.numpy(), atol=1e-6)


def test_dekr_decode_and_nms_equal_mmpose():
    rng = np.random.default_rng(5)
    cfg = SPR_CFG
    heatmaps, displacements = _spr_inputs(rng)
    # two near-duplicate poses so that the NMS removes one
    heatmaps[-1, 10, 11], heatmaps[-1, 10, 14] = 0.9, 0.8
    displacements[:, 10, 14] = displacements[:, 10, 11] - np.tile([3, 0], 17)
    test_cfg = dict(nms_dist_thr=0.05, max_num_people=4)
    kpts, scores = rd.dekr_decode(
        rd.SPRCodec(dict(cfg, type='SPR')), heatmaps, displacements, test_cfg)
    head = SimpleNamespace(decoder=SPR(**cfg), rescore_net=None)
    ref = DEKRHead.decode(head, [torch.from_numpy(heatmaps)[None]],
                          [torch.from_numpy(displacements)[None]], test_cfg)[0]
    assert len(kpts) == len(ref.keypoints) == 4
    np.testing.assert_allclose(kpts, ref.keypoints, atol=1e-5)
    np.testing.assert_allclose(scores, ref.keypoint_scores, atol=1e-6)


def test_nearby_joints_nms_equals_mmpose():
    rng = np.random.default_rng(6)
    base = rng.uniform(0, 100, (5, 17, 2))
    kpts = np.concatenate([base, base + rng.normal(0, 0.5, base.shape)]).astype(np.float32)
    db = [dict(keypoints=k, score=rng.random(17).astype(np.float32)) for k in kpts]
    for max_dets in (30, 3):
        ours = rd.nearby_joints_nms(db, 0.05, None, True, max_dets)
        theirs = nearby_joints_nms(db, 0.05, None, True, max_dets)
        assert list(ours) == list(theirs)
    assert len(rd.nearby_joints_nms(db, 0.05, None, True, 30)) == 5


def _image(rng, h=333, w=500):
    img = cv2.resize(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    return img


def test_topdown_crop_equals_mmpose_pipeline():
    rng = np.random.default_rng(7)
    img = _image(rng)
    bbox = np.array([[37.3, 20.9, 211.6, 301.2]], dtype=np.float32)
    res = GetBBoxCenterScale(padding=1.25).transform(dict(img=img.copy(), bbox=bbox))
    res = TopdownAffine(input_size=(96, 128)).transform(res)
    crop, center, scale = rt.topdown_crop(img, bbox[0], (96, 128), 1.25)
    np.testing.assert_array_equal(crop, res['img'])
    np.testing.assert_array_equal(center, res['input_center'])
    np.testing.assert_array_equal(scale, res['input_scale'])


@pytest.mark.parametrize('mode,udp', [('expand', False), ('fit', False), ('expand', True)])
def test_bottomup_resize_equals_mmpose(mode, udp):
    rng = np.random.default_rng(8)
    img = _image(rng)
    ref = BottomupResize(
        input_size=(256, 256), size_factor=32, resize_mode=mode,
        use_udp=udp).transform(dict(img=img.copy(), ori_shape=img.shape[:2]))
    out, size, center, scale = rt.bottomup_resize(img, (256, 256), 32, mode, udp)
    np.testing.assert_array_equal(out, ref['img'])
    assert tuple(size) == tuple(ref['input_size'])
    np.testing.assert_array_equal(center, ref['input_center'])
    np.testing.assert_array_equal(scale, ref['input_scale'])
