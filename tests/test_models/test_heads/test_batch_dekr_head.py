"""BatchDEKRHead: stock DEKR arguments, DEKRHead's state dict, batched predict == per-image."""
import numpy as np
import pytest
import torch
from mmpose.models.heads import DEKRHead
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample
from mmpose.utils import register_all_modules

import mmpose_attn  # noqa: F401  (registers BatchDEKRHead)

register_all_modules()

K, FLIP, SKELETON = 4, [1, 0, 3, 2], [[0, 1], [2, 3], [0, 2]]
CODEC = dict(
    type='SPR',
    input_size=(64, 64),
    heatmap_size=(16, 16),
    sigma=(4, 2),
    minimal_diagonal_length=32**0.5,
    generate_keypoint_heatmaps=True,
    decode_max_instances=30)
# a stock DEKR head block (mmpose's dekr config, scaled down), only ``type`` differs
DEKR_ARGS = dict(
    in_channels=8,
    num_keypoints=K,
    num_heatmap_filters=8,
    num_displacement_filters_per_keypoint=2,
    heatmap_loss=dict(type='KeypointMSELoss', use_target_weight=True),
    displacement_loss=dict(
        type='SoftWeightSmoothL1Loss', use_target_weight=True, supervise_empty=False),
    decoder=CODEC)
TEST_CFG = dict(multiscale_test=False, flip_test=True, nms_dist_thr=0.05, shift_heatmap=True)


def _samples(n):
    out = []
    for i in range(n):
        ds = PoseDataSample()
        ds.set_metainfo(
            dict(
                input_size=(64, 64),
                input_center=np.array([40. + 10 * i, 30.]),
                input_scale=np.array([80., 80.]),
                flip_indices=FLIP,
                skeleton_links=SKELETON,
                img_id=i))
        out.append(ds)
    return out


def _heads():
    torch.manual_seed(0)
    stock = MODELS.build(dict(type='DEKRHead', **DEKR_ARGS))
    ours = MODELS.build(dict(type='BatchDEKRHead', **DEKR_ARGS))
    with torch.no_grad():  # clear centre peaks so that instances exist
        stock.heatmap_conv_layers[-1].weight.normal_(0, 0.3)
        stock.heatmap_conv_layers[-1].bias[-1] = 1.
    ours.load_state_dict(stock.state_dict())
    return stock.eval(), ours.eval()


def test_state_dict_is_dekrs_and_flag_set():
    stock, ours = _heads()
    assert isinstance(ours, DEKRHead) and ours.supports_batch_predict is True
    assert not getattr(stock, 'supports_batch_predict', False)
    sd_stock, sd_ours = stock.state_dict(), ours.state_dict()
    assert list(sd_stock) == list(sd_ours)
    assert all(sd_stock[k].shape == sd_ours[k].shape for k in sd_stock)
    assert MODELS.get('SAMKRHead').supports_batch_predict is True


@pytest.mark.parametrize('flip', [True, False])
def test_stock_dekr_batch2_equals_two_batch1_and_dekr(flip):
    """Batch 2 == two batch-1 calls of ours == two batch-1 calls of mmpose's DEKRHead."""
    stock, ours = _heads()
    cfg = dict(TEST_CFG, flip_test=flip)
    torch.manual_seed(1)
    feats, feats_flip = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 16, 16)

    def inp(sl):
        return [(feats[sl], ), (feats_flip[sl], )] if flip else (feats[sl], )

    with torch.no_grad():
        batched = ours.predict(inp(slice(0, 2)), _samples(2), cfg)
        ours_1 = [
            ours.predict(inp(slice(i, i + 1)),
                         _samples(2)[i:i + 1], cfg)[0] for i in range(2)
        ]
        stock_1 = [
            stock.predict(inp(slice(i, i + 1)),
                          _samples(2)[i:i + 1], cfg)[0] for i in range(2)
        ]
        with pytest.raises(AssertionError, match='batch_size 1'):
            stock.predict(inp(slice(0, 2)), _samples(2), cfg)
    assert len(batched) == 2
    for b, o, s in zip(batched, ours_1, stock_1):
        assert len(b) > 0
        for ref in (o, s):
            assert len(b) == len(ref)
            assert np.allclose(b.keypoints, ref.keypoints, atol=1e-4)
            assert np.allclose(b.keypoint_scores, ref.keypoint_scores, rtol=1e-4, atol=1e-5)


def test_multiscale_without_the_pyramid_geometry_is_explained():
    _, ours = _heads()
    feats = (torch.randn(2, 8, 16, 16), )
    with pytest.raises(ValueError, match="MultiScaleBottomupResize"):
        ours.predict([feats], _samples(2), dict(TEST_CFG, flip_test=False, multiscale_test=True))
