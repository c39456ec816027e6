"""Multi-scale bottom-up testing: the image pyramid and its geometry, the scale aggregation of
BatchDEKRHead (SAMKR and stock DEKR), and `mim test` with flip + multi-scale on real COCO images."""
import copy
import json

import cv2
import numpy as np
import pytest
import torch
from _mim_tools import REPO_ROOT, _metric, _mim
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hub import get_config
from mmpose.datasets.transforms import BottomupResize
from mmpose.structures.bbox import get_warp_matrix

import mmpose_attn  # noqa: F401
from mmpose_attn.datasets.transforms import (MultiScaleBottomupResize, PackMultiScalePoseInputs,
                                             multiscale_input_geometry)
from mmpose_attn.models.heads.batch_dekr_head import _map_input_points

SAMPLES = 'tests/configs/samkr_hrnet-w18s_1xb4-60e_coco-samples-256x256.py'
DEKR = 'mmpose::body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512.py'
RESIZE = dict(input_size=(512, 512), size_factor=32, resize_mode='expand')


def _image(h=425, w=640, seed=0):
    return np.random.RandomState(seed).randint(0, 255, (h, w, 3), np.uint8)


def test_pyramid_images_are_bottomup_resize_images_with_their_warps():
    img = _image()
    ours = MultiScaleBottomupResize(
        aug_scales=[0.5, 1.5], **RESIZE)(
            dict(img=img, ori_shape=img.shape[:2]))
    stock = BottomupResize(aug_scales=[0.5, 1.5], **RESIZE)(dict(img=img, ori_shape=img.shape[:2]))
    assert len(ours['img']) == 3
    assert all(np.array_equal(a, b) for a, b in zip(ours['img'], stock['img']))
    for key in ('input_size', 'input_center', 'input_scale'):
        np.testing.assert_array_equal(ours[key], stock[key])
    geometry = multiscale_input_geometry(ours)
    assert [g[0] for g in geometry] == [im.shape[1::-1] for im in ours['img']]
    # each scale's points, mapped onto scale 1, land where BottomupResize's own warp puts them
    points = np.random.RandomState(1).rand(50, 2) * img.shape[1::-1]

    def warp(geo, p):
        size, center, scale = geo
        mat = get_warp_matrix(center, scale, 0, size)
        return p @ mat[:, :2].T + mat[:, 2]

    for geo in geometry[1:]:
        mapped = _map_input_points(
            torch.tensor(warp(geo, points), dtype=torch.float64), geo, geometry[0]).numpy()
        np.testing.assert_allclose(mapped, warp(geometry[0], points), atol=1e-3)
    # without aug_scales it is BottomupResize
    plain = MultiScaleBottomupResize(**RESIZE)(dict(img=img, ori_shape=img.shape[:2]))
    assert np.array_equal(plain['img'],
                          BottomupResize(**RESIZE)(dict(img=img, ori_shape=img.shape[:2]))['img'])


def test_pack_keeps_the_pyramid_and_its_metainfo():
    img = _image(333, 500)
    results = MultiScaleBottomupResize(
        aug_scales=[0.75], **RESIZE)(
            dict(img=img, ori_shape=img.shape[:2], img_shape=img.shape[:2]))
    packed = PackMultiScalePoseInputs()(results)
    assert [tuple(t.shape) for t in packed['inputs']] == [(3, ) + im.shape[:2]
                                                          for im in results['img']]
    meta = packed['data_samples'].metainfo
    assert meta['aug_scales'] == [0.75]
    assert meta['aug_input_size'] == [results['img'][1].shape[1::-1]]
    with pytest.raises(ValueError, match='aug_scales must be positive'):
        MultiScaleBottomupResize(aug_scales=[0], **RESIZE)


def _model_and_data(config, shared_data, aug_scales, multiscale, flip):
    from mmpose.apis import init_model
    from mmpose.registry import DATASETS
    cfg = copy.deepcopy(config) if isinstance(config, Config) else Config.fromfile(
        str(REPO_ROOT / config))
    cfg.model.test_cfg.update(multiscale_test=multiscale, flip_test=flip)
    # untrained weights: take the top-k centres, whatever their score
    cfg.model.head.decoder.update(decode_thr=0.0)
    pipeline = cfg.test_dataloader.dataset.pipeline
    resize = next(t for t in pipeline if 'Resize' in t['type'])
    resize.update(aug_scales=aug_scales)
    dataset = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset.update(
        data_root=f'{shared_data}/coco/',
        ann_file='annotations/test_coco.json',
        data_prefix=dict(img='images/'))
    torch.manual_seed(0)
    return init_model(cfg, device='cpu'), DATASETS.build(dataset)


def _predict(model, samples):
    with torch.no_grad():
        out = model.test_step(pseudo_collate(samples))
    return [(o.pred_instances.keypoints, o.pred_instances.keypoint_scores) for o in out]


@pytest.mark.parametrize('flip', [False, True])
def test_scale_one_alone_is_the_single_scale_result(shared_data, flip):
    """aug_scales=[] runs the whole multi-scale path (pyramid, preprocessor, aggregation, its own
    rescoring + pose NMS) on scale 1 only: exactly mmpose's single-scale decode."""
    single, data1 = _model_and_data(SAMPLES, shared_data, None, False, flip)
    multi, data2 = _model_and_data(SAMPLES, shared_data, [], True, flip)
    multi.load_state_dict(single.state_dict())
    for i in range(len(data1)):
        (k1, s1), = _predict(single, [data1[i]])
        (k2, s2), = _predict(multi, [data2[i]])
        assert len(k1) > 0
        np.testing.assert_array_equal(k1, k2)
        np.testing.assert_array_equal(s1, s2)


def test_stock_dekr_multiscale_through_our_pieces(shared_data):
    """mmpose's own DEKR-W32 config with the multi-scale pieces: scale 1 alone is its single-scale
    result; a pyramid whose extra scale is scale 1 again gives it too (the copy's heatmaps are
    resampled onto themselves and its poses are duplicates that pose NMS removes)."""
    cfg = get_config(DEKR)
    swaps = dict(
        BottomupResize='MultiScaleBottomupResize', PackPoseInputs='PackMultiScalePoseInputs')
    for t in cfg.test_dataloader.dataset.pipeline:
        t['type'] = swaps.get(t['type'], t['type'])
    cfg.model.update(type='MultiScaleBottomupPoseEstimator')
    cfg.model.data_preprocessor.update(type='MultiScalePoseDataPreprocessor')
    cfg.model.head.update(type='BatchDEKRHead')
    single, data = _model_and_data(cfg, shared_data, None, False, True)
    (k1, s1), = _predict(single, [data[1]])
    assert len(k1) > 0
    for aug_scales, atol in (([], 0), ([1.0], 1e-3)):
        multi, data_ms = _model_and_data(cfg, shared_data, aug_scales, True, True)
        multi.load_state_dict(single.state_dict())
        (k2, s2), = _predict(multi, [data_ms[1]])
        np.testing.assert_allclose(k2, k1, rtol=0, atol=atol)
        np.testing.assert_allclose(s2, s1, rtol=0, atol=atol * 1e-2)


def test_multiscale_result_does_not_depend_on_the_batch(shared_data):
    """A batch of two same-size images (a photo and its mirror image) gives each image's batch-1
    result, flip + three scales."""
    model, data = _model_and_data(SAMPLES, shared_data, [0.5, 1.5], True, True)
    info = data.get_data_info(0)
    img = cv2.imread(info['img_path'])
    samples = [data.pipeline(dict(copy.deepcopy(info), img=im)) for im in (img, img[:, ::-1])]
    assert samples[0]['inputs'][0].shape == samples[1]['inputs'][0].shape
    batched = _predict(model, samples)
    for sample, (kb, sb) in zip(samples, batched):
        (k1, s1), = _predict(model, [sample])
        assert len(k1) > 0 and kb.shape == k1.shape
        np.testing.assert_allclose(kb, k1, atol=1e-3)
        np.testing.assert_allclose(sb, s1, atol=1e-5)


def test_missing_pyramid_is_explained(shared_data):
    model, data = _model_and_data(SAMPLES, shared_data, None, True, False)
    with pytest.raises(ValueError, match='MultiScaleBottomupResize'):
        _predict(model, [data[0]])


@pytest.mark.slow
def test_mim_test_flip_multiscale_real_coco(tmp_path, shared_data):
    """`mim test` with flip + scales [1, 0.5, 1.5] switched on by --cfg-options on the 4 real COCO
    images: the printed AP is the COCO evaluation of the predictions it wrote, recomputed here
    with xtcocotools (the checkpoint is an untrained model, so this checks the path, not
    accuracy)."""
    from mmpose.apis import init_model
    from mmpose.datasets import CocoDataset
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval

    cfg = Config.fromfile(str(REPO_ROOT / SAMPLES))
    torch.manual_seed(0)
    model = init_model(cfg, device='cpu')
    ckpt = tmp_path / 'untrained.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    root = f'{shared_data}/coco/'
    prefix = tmp_path / 'preds'
    out = _mim('test', 'mmpose', SAMPLES, '--checkpoint', str(ckpt), '--work-dir',
               str(tmp_path / 't'), '--cfg-options', f'test_dataloader.dataset.data_root={root}',
               'model.test_cfg.multiscale_test=True', 'model.test_cfg.flip_test=True',
               'test_dataloader.dataset.pipeline.1.aug_scales=[0.5,1.5]',
               'model.head.decoder.decode_thr=0.0', f'test_evaluator.outfile_prefix={prefix}')
    results = json.loads((tmp_path / 'preds.keypoints.json').read_text())
    gt = COCO(f'{root}annotations/test_coco.json')
    assert {r['image_id'] for r in results} == set(gt.getImgIds())
    evaluation = COCOeval(
        gt,
        gt.loadRes(str(tmp_path / 'preds.keypoints.json')),
        'keypoints',
        parse_pose_metainfo(CocoDataset.METAINFO)['sigmas'],
        use_area=True)
    evaluation.params.useSegm = None
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    for name, stat in (('AP', 0), ('AR', 5)):
        printed = _metric(out, f'coco/{name}')
        assert printed == pytest.approx(
            evaluation.stats[stat], abs=1e-4), (name, printed, out[-3000:])
