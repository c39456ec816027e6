"""SAMKR: ULSAM vs a per-subspace loop, head structure checks, branch independence,
batched predict (head and BottomupPoseEstimator), rescore weights, the configs."""
import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmpose.models.heads.hybrid_heads.dekr_head import RescoreNet
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample
from mmpose.utils import register_all_modules

import mmpose_attn  # noqa: F401  (registers ULSAM, SAMKRHead, SWAHRLoss)

torch.set_num_threads(2)
register_all_modules()

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs' / 'samkr'
W32_COCO = CONFIGS / 'coco' / 'samkr_hrnet-w32_8xb10-140e_coco-512x512.py'
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _load(path: Path) -> Config:
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.init_cfg = None
    return cfg


@pytest.fixture(scope='module')
def w32_coco():
    """The SAMKR-W32 COCO model, built once (init_cfg=None), in eval mode."""
    torch.manual_seed(0)
    model = MODELS.build(_load(W32_COCO).model)
    model.head.init_weights()
    return model.eval()


# ---------------------------------------------------------------- ULSAM


def _ulsam_loop_reference(m, x):
    """One subspace at a time, exactly the paper's per-subspace equation."""
    B, C, H, W = x.shape
    G, s = m.num_subspaces, m.subspace_channels

    def norm_act(seq, t, sl):
        if seq is None:
            return t
        bn = seq[0]
        t = (t - bn.running_mean[sl, None, None]) / torch.sqrt(bn.running_var[sl, None, None] +
                                                               bn.eps)
        return torch.relu(t * bn.weight[sl, None, None] + bn.bias[sl, None, None])

    outs = []
    for i in range(G):
        sl = slice(i * s, (i + 1) * s)
        f = x[:, sl]
        a = F.conv2d(f, m.dw_conv.weight[sl], m.dw_conv.bias[sl], groups=s)
        a = norm_act(m.dw_norm_act, a, sl)
        a = F.max_pool2d(a, 3, stride=1, padding=1)
        a = F.conv2d(a, m.pw_conv.weight[i:i + 1], m.pw_conv.bias[i:i + 1])  # (B, 1, H, W)
        a = norm_act(m.pw_norm_act, a, slice(i, i + 1))
        a = torch.softmax(a.reshape(B, -1), dim=1).reshape(B, 1, H, W)
        outs.append(f * a + f)
    return torch.cat(outs, dim=1)


@contextlib.contextmanager
def _single_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


@pytest.mark.parametrize('with_norm_act', [False, True])
@pytest.mark.parametrize('channels,groups', [(12, 4), (272, 136), (16, 16), (16, 1)])
def test_ulsam_equals_per_subspace_loop(channels, groups, with_norm_act):
    torch.manual_seed(0)
    m = MODELS.build(
        dict(type='ULSAM', channels=channels, num_subspaces=groups,
             with_norm_act=with_norm_act)).eval()
    with torch.no_grad(), _single_thread():  # the loop runs hundreds of tiny ops
        for p in m.parameters():
            p.normal_(0, 1)
        for buf_name, buf in m.named_buffers():
            if 'running_mean' in buf_name:
                buf.normal_(0, 0.5)
            elif 'running_var' in buf_name:
                buf.uniform_(0.5, 2)
        x = torch.randn(2, channels, 9, 11)
        out = m(x)
        ref = _ulsam_loop_reference(m, x)
    assert out.shape == x.shape
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out, x)  # the attention does something


def test_ulsam_rejects_bad_subspaces():
    with pytest.raises(ValueError, match='num_subspaces=5.*channels=16'):
        MODELS.build(dict(type='ULSAM', channels=16, num_subspaces=5))


# ---------------------------------------------------------------- head structure


@pytest.mark.parametrize('kwargs,message', [
    (dict(num_subspaces=3), 'g=3 must divide the branch channels c=16'),
    (dict(num_displacement_filters=100), 'm=100.*K=17.*c=16'),
    (dict(branch='shared', num_displacement_filters=272), 'c = m.*m=272.*c=16'),
    (dict(subspace_channels=4), 's=4 must equal c/g'),
    (dict(branch='dense'), "branch='dense'"),
])
def test_head_rejects_bad_structures(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MODELS.build(dict(type='SAMKRHead', in_channels=8, num_keypoints=17, **kwargs))


def _small_head(branch='per_keypoint', K=5, c=4, g=2, std=0.1, **kw):
    m = K * c if branch == 'per_keypoint' else c
    head = MODELS.build(
        dict(
            type='SAMKRHead',
            in_channels=8,
            num_keypoints=K,
            branch=branch,
            num_displacement_filters=m,
            num_displacement_filters_per_keypoint=c,
            num_subspaces=g,
            **kw))
    torch.manual_seed(1)
    with torch.no_grad():  # larger than DEKR's init so deformable offsets/attention are non-trivial
        for name, p in head.named_parameters():
            if 'norm' not in name and 'bn' not in name:
                p.normal_(0, std)
    return head.eval()


@pytest.mark.parametrize('j', [0, 3])
def test_branch_independence(j):
    """Changing keypoint j's branch features changes only keypoint j's two offset channels."""
    K, c = 5, 4
    head = _small_head(K=K, c=c)
    layers = head.displacement_conv_layers
    x = torch.randn(1, 8, 12, 12)
    with torch.no_grad():
        z = layers[0](x)  # (1, K·c, h, w): the K branches
        z2 = z.clone()
        z2[:, j * c:(j + 1) * c] += torch.randn(1, c, 12, 12)
        out, out2 = (layers[1:](t) for t in (z, z2))
    changed = (out - out2).abs().flatten(2).amax(-1)[0]  # per offset channel
    assert (changed[2 * j:2 * j + 2] > 1e-4).all()
    others = [k for k in range(2 * K) if k // 2 != j]
    assert (changed[others] == 0).all()

    # control: in the shared single branch every offset depends on all channels
    shared = _small_head(branch='shared', K=K, c=K * c, g=4)
    layers = shared.displacement_conv_layers
    with torch.no_grad():
        z = layers[0](x)
        z2 = z.clone()
        z2[:, j * c:(j + 1) * c] += torch.randn(1, c, 12, 12)
        changed = (layers[1:](z) - layers[1:](z2)).abs().flatten(2).amax(-1)[0]
    assert (changed > 0).all()


# ---------------------------------------------------------------- batched predict

K_SMALL, FLIP_SMALL, SKELETON_SMALL = 4, [1, 0, 3, 2], [[0, 1], [2, 3], [0, 2]]
SMALL_CODEC = dict(
    type='SPR',
    input_size=(64, 64),
    heatmap_size=(16, 16),
    sigma=(4, 2),
    minimal_diagonal_length=32**0.5,
    generate_keypoint_heatmaps=True,
    decode_max_instances=30)
TEST_CFG = dict(multiscale_test=False, flip_test=True, nms_dist_thr=0.05, shift_heatmap=True)


def _samples(n, input_size=(64, 64), flip=FLIP_SMALL, skeleton=SKELETON_SMALL):
    out = []
    for i in range(n):
        ds = PoseDataSample()
        ds.set_metainfo(
            dict(
                input_size=input_size,
                input_center=np.array([40. + 10 * i, 30.]),
                input_scale=np.array([80. + 20 * i, 80. + 20 * i]),
                flip_indices=flip,
                skeleton_links=skeleton,
                img_id=i))
        out.append(ds)
    return out


def _assert_same_instances(a: InstanceData, b: InstanceData):
    assert len(a) == len(b)
    assert np.allclose(a.keypoints, b.keypoints, atol=1e-4)
    assert np.allclose(a.keypoint_scores, b.keypoint_scores, rtol=1e-4, atol=1e-5)


def test_head_predict_batch_equals_single_images(tmp_path):
    """Batch-2 predict (flip test, rescoring from a weights file) == two batch-1 calls."""
    rescore = RescoreNet(in_channels=3 * len(SKELETON_SMALL) + K_SMALL, norm_indexes=(0, 1))
    torch.nn.init.normal_(rescore.l3.weight, 0, 1)
    ckpt = tmp_path / 'rescore.pth'
    torch.save(rescore.state_dict(), ckpt)
    rescore_cfg = dict(
        in_channels=3 * len(SKELETON_SMALL) + K_SMALL,
        norm_indexes=(0, 1),
        init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))
    head = _small_head(K=K_SMALL, c=4, g=2, std=0.3, decoder=SMALL_CODEC, rescore_cfg=rescore_cfg)
    head.rescore_net.init_weights()
    assert torch.equal(head.rescore_net.l3.weight, rescore.l3.weight)

    torch.manual_seed(2)
    feats, feats_flip = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        batched = head.predict([(feats, ), (feats_flip, )], _samples(2), TEST_CFG)
        singles = [
            head.predict([(feats[i:i + 1], ), (feats_flip[i:i + 1], )],
                         _samples(2)[i:i + 1], TEST_CFG)[0] for i in range(2)
        ]
        head_no_rescore = _small_head(K=K_SMALL, c=4, g=2, std=0.3, decoder=SMALL_CODEC)
        plain = head_no_rescore.predict([(feats, ), (feats_flip, )], _samples(2), TEST_CFG)
    assert len(batched) == 2
    for b, s in zip(batched, singles):
        assert len(b) > 0
        _assert_same_instances(b, s)
    # the rescore net (from the weights file) changed the instance scores
    assert not np.allclose(
        np.sort(plain[0].keypoint_scores.max(1)), np.sort(batched[0].keypoint_scores.max(1)))


def test_predict_ignores_centres_in_an_images_padding():
    """Image 1 is 32 px wide inside a 64 px padded batch: no centres in its padding."""
    head = _small_head(K=K_SMALL, c=4, g=2, std=0.3, decoder=SMALL_CODEC)
    torch.manual_seed(4)
    feats = [(torch.randn(2, 8, 16, 16), ), (torch.randn(2, 8, 16, 16), )]
    padded = _samples(2)
    padded[1].set_metainfo(dict(input_size=(32, 64)))  # (w, h): 8 of 16 heatmap columns
    cfg = dict(TEST_CFG, output_heatmaps=True)
    with torch.no_grad():
        preds, fields = head.predict(feats, padded, cfg)
        full, full_fields = head.predict(feats, _samples(2), cfg)
    assert (fields[1].heatmaps[-1, :, 8:] == 0).all()
    assert torch.equal(fields[1].heatmaps[-1, :, :8], full_fields[1].heatmaps[-1, :, :8])
    assert (full_fields[1].heatmaps[-1, :, 8:] > 0.01).any()
    assert 0 < len(preds[1]) < len(full[1])
    _assert_same_instances(preds[0], full[0])  # the unpadded image is untouched


def test_estimator_predict_batch_equals_single_images(w32_coco):
    """BottomupPoseEstimator path: per-image metainfo maps each image's keypoints back."""
    model = w32_coco
    with torch.no_grad():  # give the random model clear centre peaks so instances exist
        model.head.heatmap_conv_layers[-1].weight.normal_(0, 0.3)
        model.head.heatmap_conv_layers[-1].bias[-1] = 1.  # the centre heatmap
    model.test_cfg = dict(TEST_CFG)
    torch.manual_seed(3)
    inputs = torch.randn(2, 3, 64, 64)
    skeleton = [[15, 13], [13, 11], [5, 6], [5, 7]]
    with torch.no_grad():
        batched = model.predict(inputs, _samples(2, flip=COCO_FLIP, skeleton=skeleton))
        singles = [
            model.predict(inputs[i:i + 1],
                          _samples(2, flip=COCO_FLIP, skeleton=skeleton)[i:i + 1])[0]
            for i in range(2)
        ]
    for b, s in zip(batched, singles):
        assert len(b.pred_instances) > 0
        _assert_same_instances(b.pred_instances, s.pred_instances)
    # each image is mapped back with its own input_center/input_scale (they differ per image)
    assert batched[0].pred_instances.keypoints.shape[1:] == (17, 2)


# ---------------------------------------------------------------- configs


def test_w32_coco_params_and_512_forward(w32_coco):
    n = sum(p.numel() for p in w32_coco.parameters())
    assert abs(n / 1e6 - 29.6) <= 0.1, n
    assert w32_coco.head.structure == dict(
        branch='per_keypoint', num_branches=17, m=272, c=16, g=8, s=2)
    with torch.no_grad():
        heatmaps, displacements = w32_coco.head.forward(
            w32_coco.extract_feat(torch.randn(1, 3, 512, 512)))
    assert heatmaps.shape == (1, 18, 128, 128)
    assert displacements.shape == (1, 34, 128, 128)


@pytest.mark.parametrize('rel,K,params,tol,loss', [
    ('coco/samkr_hrnet-w48_8xb10-140e_coco-640x640.py', 17, 65.7, 0.2, 'KeypointMSELoss'),
    ('crowdpose/samkr_hrnet-w32_8xb10-300e_crowdpose-512x512.py', 14, None, None, 'SWAHRLoss'),
    ('crowdpose/samkr_hrnet-w48_8xb5-300e_crowdpose-640x640.py', 14, None, None, 'KeypointMSELoss'),
])
def test_other_main_configs(rel, K, params, tol, loss):
    cfg = _load(CONFIGS / rel)
    assert cfg.model.head.heatmap_loss.type == loss
    assert cfg.model.head.rescore_cfg is None
    if K == 14:
        assert cfg.val_evaluator.iou_type == 'keypoints_crowd'
        assert cfg.dataset_type == 'ValidatedCrowdPoseDataset'
    model = MODELS.build(cfg.model).eval()
    if params is not None:
        n = sum(p.numel() for p in model.parameters())
        assert abs(n / 1e6 - params) <= tol, n
    assert model.head.structure['m'] == K * 16
    with torch.no_grad():
        heatmaps, displacements = model.head.forward(model.extract_feat(torch.randn(1, 3, 64, 64)))
    assert heatmaps.shape == (1, K + 1, 16, 16)
    assert displacements.shape == (1, 2 * K, 16, 16)


def test_ulsam_norm_act_bn_momentum_is_the_public_codes():
    """The public ULSAM code builds ``nn.BatchNorm2d(nin, momentum=0.9)``: after one training
    batch the running mean is 0.9 * batch mean (it starts at 0)."""
    torch.manual_seed(0)
    m = MODELS.build(dict(type='ULSAM', channels=4, num_subspaces=2, with_norm_act=True)).train()
    bn_dw, bn_pw = m.dw_norm_act[0], m.pw_norm_act[0]
    assert bn_dw.momentum == 0.9 and bn_pw.momentum == 0.9
    x = torch.randn(3, 4, 5, 6) + 2
    with torch.no_grad():
        m(x)
        dw = torch.addcmul(m.dw_conv.bias.view(1, 4, 1, 1), x, m.dw_conv.weight.view(1, 4, 1, 1))
    torch.testing.assert_close(bn_dw.running_mean, 0.9 * dw.mean(dim=(0, 2, 3)))
    plain = MODELS.build(
        dict(
            type='ULSAM', channels=4, num_subspaces=2, with_norm_act=True,
            norm_cfg=dict(type='BN')))
    assert plain.dw_norm_act[0].momentum == 0.1


def test_ulsam_attention_maps_are_the_softmax_modules_output():
    """A forward hook on ``ULSAM.softmax`` gets the (B, G, H, W) subspace maps, each summing to 1
    over its H·W positions, and the output is x + x * map of the channel's subspace."""
    torch.manual_seed(0)
    m = MODELS.build(dict(type='ULSAM', channels=8, num_subspaces=4)).eval()
    seen = []
    m.softmax.register_forward_hook(lambda mod, i, o: seen.append(o.detach().clone()))
    x = torch.randn(2, 8, 5, 6)
    y = m(x)
    (maps, ) = seen
    assert maps.shape == (2, 4, 5, 6)
    torch.testing.assert_close(maps.sum((2, 3)), torch.ones(2, 4))
    expected = x + x * maps.repeat_interleave(2, dim=1)  # s = 2 channels per subspace
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(y, _ulsam_loop_reference(m, x))


def test_ulsam_exports_to_onnx_opset_11():
    """Its convs, pool and softmax are modules of ops that opset 11 has (no einsum)."""
    onnx = pytest.importorskip('onnx')
    import io
    m = MODELS.build(dict(type='ULSAM', channels=8, num_subspaces=4)).eval()
    f = io.BytesIO()
    torch.onnx.export(m, torch.randn(1, 8, 6, 7), f, opset_version=11, dynamo=False)
    ops = {n.op_type for n in onnx.load_from_string(f.getvalue()).graph.node}
    assert {'Conv', 'MaxPool', 'Softmax'} <= ops and 'Einsum' not in ops
