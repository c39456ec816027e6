"""ESAM: attention layers, ESAMResNet, ESAMHead and the four COCO configs (CPU, small batches)."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData, PixelData
from mmpose.codecs import MSRAHeatmap
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample
from mmpose.utils import register_all_modules

import mmpose_attn  # noqa: F401  (registers the ESAM modules)
from mmpose_attn.models.backbones import ESAMResNet
from mmpose_attn.models.heads import ESAMHead
from mmpose_attn.models.layers import ChannelGate, SpatialGate, StageAttention

register_all_modules(init_default_scope=False)

CFG_DIR = Path(__file__).resolve().parents[2] / 'configs' / 'esam' / 'coco'
MAIN = 'td-hm_esam-res50_8xb64-270e_coco-256x192.py'
CONFIGS = {
    MAIN: 30.7e6,
    'td-hm_esam-res101_8xb64-270e_coco-256x192.py': 49.7e6,
    'td-hm_esam-k7-res50_8xb64-270e_coco-256x192.py': None,
    'td-hm_esam-par-res50_8xb64-270e_coco-256x192.py': None,
}
# COCO's left/right swap, as the dataset puts it into the metainfo for flip test
FLIP_INDICES = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope='module', autouse=True)
def _two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(min(old, 2))
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope='module')
def models():
    """Each config's model, built once with the pretrained init switched off."""
    built = {}
    for name in CONFIGS:
        cfg = Config.fromfile(str(CFG_DIR / name))
        cfg.model.backbone.init_cfg = None
        torch.manual_seed(0)
        # configs name mmpose types unprefixed (default_scope='mmpose'), whatever scope
        # another test left current
        with DefaultScope.overwrite_default_scope(cfg.default_scope):
            model = MODELS.build(cfg.model)
        model.init_weights()
        built[name] = (cfg, model)
    return built


# ---------------------------------------------------------------- attention layers
def test_channel_gate_is_constant_over_space():
    torch.manual_seed(0)
    gate = ChannelGate(32, reduction=16)
    assert gate.conv1.conv.out_channels == 2  # C / r
    x = torch.rand(2, 32, 5, 7) + 0.1
    att = gate.attention(x)
    assert att.shape == (2, 32, 1, 1) and ((att > 0) & (att < 1)).all()
    ratio = gate(x) / x
    # one factor per (sample, channel), shared by all positions, equal to the gate map
    torch.testing.assert_close(ratio, att.expand_as(x), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ratio[:, 0], ratio[:, 1])


@pytest.mark.parametrize('layout', ['serial3x3', 'k7', 'parallel3x3'])
def test_spatial_gate_is_constant_over_channels(layout):
    torch.manual_seed(0)
    gate = SpatialGate(layout)
    x = torch.rand(2, 8, 9, 11) + 0.1
    att = gate.attention(x)
    assert att.shape == (2, 1, 9, 11) and ((att > 0) & (att < 1)).all()
    ratio = gate(x) / x
    torch.testing.assert_close(ratio, att.expand_as(x), rtol=1e-5, atol=1e-6)
    assert ratio[0, :, 0, 0].std() < 1e-6 < ratio[0, 0].std()  # varies over space only

    # the documented formula for each layout, written out with F.conv2d
    mean = x.mean(1, keepdim=True)
    c = [(m.weight, m.bias, m.dilation, m.padding) for m in gate.convs]
    if layout == 'parallel3x3':
        logits = sum(F.conv2d(mean, w, b, padding=p, dilation=d) for w, b, d, p in c)
    else:
        logits = mean
        for w, b, d, p in c:
            logits = F.conv2d(logits, w, b, padding=p, dilation=d)
    torch.testing.assert_close(att, logits.sigmoid())


@pytest.mark.parametrize('layout,kernels,dilations,field', [
    ('serial3x3', [3, 3], [1, 1], 5),
    ('k7', [7], [1], 7),
    ('parallel3x3', [3, 3], [1, 2], 5),
])
def test_spatial_gate_kernels_and_receptive_field(layout, kernels, dilations, field):
    gate = SpatialGate(layout)
    assert [m.kernel_size[0] for m in gate.convs] == kernels
    assert [m.dilation[0] for m in gate.convs] == dilations
    # receptive field: an impulse in the mean map changes the gate over a field x field window
    for m in gate.convs:
        nn.init.constant_(m.weight, 0.1)
    x = torch.zeros(1, 1, 15, 15)
    base = gate.attention(x)
    x[0, 0, 7, 7] = 1.0
    changed = (gate.attention(x) - base).abs()[0, 0] > 1e-7
    rows, cols = changed.nonzero(as_tuple=True)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (field, field)


def test_unknown_sam_layout_names_value_and_options():
    with pytest.raises(ValueError, match=r"'diag5'.*k7.*parallel3x3.*serial3x3"):
        SpatialGate('diag5')
    with pytest.raises(ValueError, match='diag5'):
        ESAMResNet(depth=18, sam_layout='diag5')


def test_stage_attention_is_residual_sam_of_cam():
    torch.manual_seed(0)
    att = StageAttention(32, reduction=16, sam_layout='serial3x3')
    x = torch.randn(2, 32, 6, 5)
    xc = x * att.channel_gate.attention(x)
    expected = x + xc * att.spatial_gate.attention(xc)  # y = F + SAM(CAM(F))
    torch.testing.assert_close(att(x), expected)
    # closing the channel gate leaves the identity path: y = F
    nn.init.constant_(att.channel_gate.conv2.conv.bias, -50.)
    torch.testing.assert_close(att(x), x)
    # registered for configs
    assert isinstance(MODELS.build(dict(type='StageAttention', channels=8)), StageAttention)


def test_stage_attention_gates_are_module_outputs():
    """Forward hooks see the gates: ``channel_gate.conv2`` gives the channel vector and
    ``spatial_gate.sigmoid`` the spatial map that the stage attention applies."""
    torch.manual_seed(0)
    att = StageAttention(32, reduction=4, sam_layout='serial3x3')
    seen = {}
    for name in ('channel_gate.conv2', 'spatial_gate.sigmoid'):
        att.get_submodule(name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name,
                                                        o.detach().clone()))
    assert isinstance(att.spatial_gate.sigmoid, nn.Sigmoid)
    x = torch.randn(2, 32, 6, 5)
    y = att(x)
    c, s = seen['channel_gate.conv2'], seen['spatial_gate.sigmoid']
    assert c.shape == (2, 32, 1, 1) and s.shape == (2, 1, 6, 5)
    assert ((c > 0) & (c < 1)).all() and ((s > 0) & (s < 1)).all()
    torch.testing.assert_close(y, x + x * c * s)


# ---------------------------------------------------------------- backbone
def test_esam_resnet_stages_and_shapes():
    net = ESAMResNet(
        depth=18, out_indices=(0, 1, 2, 3), attention_stages=(True, False, True, False))
    assert hasattr(net, 'attn1') and hasattr(net, 'attn3')
    assert not hasattr(net, 'attn2') and not hasattr(net, 'attn4')
    assert net.attn3.channel_gate.conv1.conv.in_channels == 256
    outs = net(torch.rand(1, 3, 64, 48))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 12), (1, 128, 8, 6), (1, 256, 4, 3),
                                              (1, 512, 2, 2)]
    with pytest.raises(ValueError, match='attention_stages'):
        ESAMResNet(depth=18, attention_stages=(True, True))
    frozen = ESAMResNet(depth=18, frozen_stages=1)
    assert not any(p.requires_grad for p in frozen.attn1.parameters())
    assert all(p.requires_grad for p in frozen.attn2.parameters())


@pytest.mark.parametrize('num_stages', [1, 2, 3])
def test_esam_resnet_fewer_stages_gets_one_attention_per_stage(num_stages):
    # mmpose's ResNet takes one stride and dilation per stage as well
    stages = dict(
        num_stages=num_stages,
        strides=(1, 2, 2)[:num_stages],
        dilations=(1, ) * num_stages,
        out_indices=(num_stages - 1, ))
    net = ESAMResNet(depth=50, init_cfg=None, **stages)
    assert net.attention_stages == (True, ) * num_stages
    assert [name for name, _ in net.named_children() if name.startswith('attn')] == \
        [f'attn{i + 1}' for i in range(num_stages)]
    stock = MODELS.build(dict(type='ResNet', depth=50, **stages))
    out, ref = net(torch.rand(1, 3, 64, 64)), stock(torch.rand(1, 3, 64, 64))
    assert out[-1].shape == ref[-1].shape == (1, 256 * 2**(num_stages - 1),
                                              16 // 2**(num_stages - 1), 16 // 2**(num_stages - 1))


def test_stock_resnet_state_dict_loads_with_only_attention_missing():
    stock = MODELS.build(dict(type='ResNet', depth=50))
    net = ESAMResNet(depth=50)
    missing, unexpected = net.load_state_dict(stock.state_dict(), strict=False)
    assert unexpected == []
    assert missing and all(k.split('.')[0] in ('attn1', 'attn2', 'attn3', 'attn4') for k in missing)
    assert set(missing) == {k for k in net.state_dict() if k.startswith('attn')}
    torch.testing.assert_close(net.layer3[5].conv2.weight, stock.layer3[5].conv2.weight)

    # torchvision layout (what torchvision://resnet50 holds): only its classifier is extra
    import torchvision
    tv = torchvision.models.resnet50(weights=None).state_dict()
    missing_tv, unexpected_tv = net.load_state_dict(tv, strict=False)
    assert set(unexpected_tv) == {'fc.weight', 'fc.bias'} and set(missing_tv) == set(missing)


def test_loaded_esam_resnet_without_attention_equals_stock():
    torch.manual_seed(0)
    stock = MODELS.build(dict(type='ResNet', depth=18, out_indices=(0, 1, 2, 3)))
    stock.init_weights()
    net = ESAMResNet(depth=18, out_indices=(0, 1, 2, 3), attention_stages=(False, ) * 4)
    net.load_state_dict(stock.state_dict(), strict=True)
    stock.eval()
    net.eval()
    x = torch.rand(1, 3, 64, 48)
    for a, b in zip(net(x), stock(x)):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- head
def _head_pair(**esam_kwargs):
    codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    torch.manual_seed(0)
    esam = ESAMHead(2048, 17, decoder=codec, **esam_kwargs)
    ref = MODELS.build(dict(type='HeatmapHead', in_channels=2048, out_channels=17, decoder=codec))
    esam.init_weights()
    ref.init_weights()
    return esam.eval(), ref.eval()


def _record_conv_inputs(head, feats):
    sizes = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: sizes.append(tuple(i[0].shape[2:])))
        for m in head.modules() if isinstance(m, nn.Conv2d)
    ]
    out = head(feats)
    for h in hooks:
        h.remove()
    return sizes, out


def test_esam_head_layout_and_order():
    conv_first, _ = _head_pair()
    interp_first, _ = _head_pair(upsample_order='interp_first')
    assert n_params(conv_first) == n_params(interp_first)
    assert 6.4e6 < n_params(conv_first) < 6.6e6
    feats = (torch.rand(1, 2048, 8, 6), )
    sizes, out = _record_conv_inputs(conv_first, feats)
    # four 3x3 blocks then the final 1x1: conv_first keeps every 3x3 below 64x48
    assert sizes == [(8, 6), (8, 6), (16, 12), (32, 24), (64, 48)]
    assert out.shape == (1, 17, 64, 48)
    sizes, out = _record_conv_inputs(interp_first, feats)
    assert sizes == [(8, 6), (16, 12), (32, 24), (64, 48), (64, 48)]
    assert out.shape == (1, 17, 64, 48)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in conv_first.modules())
    with pytest.raises(ValueError, match="'deconv_first'"):
        ESAMHead(2048, 17, upsample_order='deconv_first')
    with pytest.raises(ValueError, match='scale_factors'):
        ESAMHead(2048, 17, scale_factors=(2, 2))


@pytest.mark.parametrize('blocks, factors', [(1, (8, )), (2, (2, 4)), (3, (2, 2, 2)),
                                             (4, (1, 2, 2, 2)), (5, (1, 1, 2, 2, 2))])
def test_esam_head_default_scale_factors_for_any_number_of_blocks(blocks, factors):
    """Without scale_factors the blocks up-sample x8 in all (8x6 -> 64x48), as 4 blocks do."""
    head = ESAMHead(
        64, 17, upsample_out_channels=(16, ) * blocks, upsample_kernel_sizes=(3, ) * blocks)
    assert head.scale_factors == factors
    sizes, out = _record_conv_inputs(head, (torch.rand(2, 64, 8, 6), ))
    assert out.shape == (2, 17, 64, 48)
    expected, h, w = [], 8, 6
    for f in factors:  # conv_first: each block's conv runs before its up-sampling
        expected.append((h, w))
        h, w = h * f, w * f
    assert sizes == expected + [(64, 48)]
    assert ESAMHead(2048, 17).scale_factors == (1, 2, 2, 2)


def _data_samples(n):
    samples = []
    for _ in range(n):
        s = PoseDataSample(
            metainfo=dict(
                flip_indices=FLIP_INDICES,
                input_size=(192, 256),
                input_center=np.array([96., 128.]),
                input_scale=np.array([192., 256.])))
        samples.append(s)
    return samples


@pytest.mark.parametrize('flip_test', [True, False])
def test_esam_head_predict_format_matches_heatmap_head(flip_test):
    esam, ref = _head_pair()
    torch.manual_seed(1)
    f, f_flip = (torch.rand(2, 2048, 8, 6), ), (torch.rand(2, 2048, 8, 6), )
    feats = [f, f_flip] if flip_test else f
    test_cfg = dict(
        flip_test=flip_test, flip_mode='heatmap', shift_heatmap=True, output_heatmaps=True)
    with torch.no_grad():
        preds, fields = esam.predict(feats, _data_samples(2), test_cfg)
        ref_preds, ref_fields = ref.predict(feats, _data_samples(2), test_cfg)
    assert len(preds) == len(ref_preds) == 2
    for p, r in zip(preds, ref_preds):
        assert isinstance(p, InstanceData) and set(p.keys()) == set(r.keys())
        for k in r.keys():
            assert type(p[k]) is type(r[k]) and np.shape(p[k]) == np.shape(r[k]), k
            assert getattr(p[k], 'dtype', None) == getattr(r[k], 'dtype', None), k
    for p, r in zip(fields, ref_fields):
        assert isinstance(p, PixelData) and p.heatmaps.shape == r.heatmaps.shape == (17, 64, 48)
    if flip_test:  # HeatmapHead's flip averaging is inherited unchanged
        with torch.no_grad():
            expected = 0.5 * (
                esam(f) + flip_heatmaps(
                    esam(f_flip),
                    flip_mode='heatmap',
                    flip_indices=FLIP_INDICES,
                    shift_heatmap=True))
        torch.testing.assert_close(torch.stack([x.heatmaps for x in fields]), expected)


# ---------------------------------------------------------------- configs
def test_configs_follow_the_paper_schedule(models):
    cfg = models[MAIN][0]
    assert cfg.train_cfg.max_epochs == 270
    assert cfg.optim_wrapper.optimizer.type == 'Adam' and cfg.optim_wrapper.optimizer.lr == 1e-3
    step = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR'][0]
    assert step.milestones == [170, 200] and step.gamma == 0.1
    assert cfg.codec.heatmap_size == (48, 64) and cfg.codec.sigma == 2
    assert cfg.model.test_cfg.flip_test is True
    bbox_tf = [t for t in cfg.train_pipeline if t.type == 'RandomBBoxTransform'][0]
    assert bbox_tf.rotate_factor == 40 and bbox_tf.scale_factor == (0.7, 1.3)
    assert any(t.type == 'RandomFlip' for t in cfg.train_pipeline)
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert 'mmpose_attn' in cfg.custom_imports.imports
    for name in CONFIGS:  # what users get (tests switch it off)
        raw = Config.fromfile(str(CFG_DIR / name)).model.backbone.init_cfg
        assert raw.type == 'Pretrained'
        assert raw.checkpoint == f'torchvision://resnet{models[name][0].model.backbone.depth}'


@pytest.mark.parametrize('name', list(CONFIGS))
def test_config_builds_forwards_and_has_paper_params(models, name):
    cfg, model = models[name]
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 256, 192), None, mode='tensor')
    assert out.shape == (1, 17, 64, 48)
    if CONFIGS[name] is not None:
        assert abs(n_params(model) / CONFIGS[name] - 1) < 0.01, n_params(model)


@pytest.mark.parametrize('variant', ['k7', 'par'])
def test_variants_differ_from_main_only_by_sam_kernels(models, variant):

    def leaves(model):  # leaf module -> its repr (kernel, dilation, padding ...) and shapes
        return {
            name: (repr(m), [tuple(p.shape) for p in m.parameters()])
            for name, m in model.named_modules() if not list(m.children())
        }

    main = leaves(models[MAIN][1])
    other = leaves(models[f'td-hm_esam-{variant}-res50_8xb64-270e_coco-256x192.py'][1])
    differ = {k for k in set(main) | set(other) if main.get(k) != other.get(k)}
    assert all('.spatial_gate.convs.' in k for k in differ)
    assert {k.split('.')[1] for k in differ} == {'attn1', 'attn2', 'attn3', 'attn4'}


def test_training_steps_lower_the_loss(models):
    """A few Adam steps of the main model on one fixed batch (train_step: data preprocessor,
    ESAMHead.loss, backward, update). 128x96 crops keep it cheap: the model is fully
    convolutional, heatmaps come out at 32x24; lr 1e-4 because the config's warm-up starts far
    below its 1e-3 and BN statistics of a 2-sample batch make bigger first steps jumpy."""
    cfg, model = models[MAIN]
    model = copy.deepcopy(model).train()
    codec = MSRAHeatmap(input_size=(96, 128), heatmap_size=(24, 32), sigma=cfg.codec.sigma)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    data_samples, inputs = [], []
    for _ in range(2):
        kpts = rng.uniform((8, 8), (88, 120), size=(1, 17, 2)).astype(np.float32)
        enc = codec.encode(kpts, np.ones((1, 17), np.float32))
        s = PoseDataSample(metainfo=dict(flip_indices=FLIP_INDICES))
        s.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        s.gt_instance_labels = InstanceData(
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        data_samples.append(s)
        inputs.append(torch.randint(0, 256, (3, 128, 96), dtype=torch.uint8))
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-4))
    losses = []
    for _ in range(4):
        log = model.train_step(dict(inputs=inputs, data_samples=data_samples), optim)
        assert set(log) == {'loss', 'loss_kpt', 'acc_pose'}
        losses.append(log['loss'].item())
    assert np.isfinite(losses).all() and losses[-1] < 0.9 * losses[0], losses
