"""Warm starts from stock mmpose checkpoints: SimpleBaseline -> ESAM, DEKR -> SAMKR.

The stock checkpoints are written from randomly initialised stock mmpose models (no downloads);
the shipped configs' architectures at small widths and inputs keep the runs to seconds.
"""
from pathlib import Path

import torch
from _tiny_train import make_tiny_data
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpose.registry import MODELS

from mmpose_attn.engine.hooks.warm_start_hook import warm_start_state_dict
from mmpose_attn.utils import load_config, remove_init_cfg

ROOT = Path(__file__).resolve().parents[3]
SAMKR_SYNTH = ROOT / 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py'
ESAM_SYNTH = ROOT / 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py'
WARM_CONFIGS = {
    'dekr':
    ROOT / 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512_warm-dekr.py',
    'simplebaseline':
    ROOT / 'configs/esam/coco/'
    'td-hm_esam-res50_8xb64-270e_coco-256x192_warm-simplebaseline.py',
}


def _stock_checkpoint(model_cfg: dict, path: Path, seed: int) -> dict:
    init_default_scope('mmpose')
    torch.manual_seed(seed)
    remove_init_cfg(model_cfg)
    model = MODELS.build(ConfigDict(model_cfg))
    model.init_weights()
    # "trained": every float tensor moved off its initial value (BN weights start as constant 1s,
    # which a fresh init would reproduce); edited in place to keep the state dict's _metadata
    # (module versions: without them DEKRHead converts the dict as a pre-1.0 checkpoint)
    state = model.state_dict()
    for k, v in state.items():
        state[k] = v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v.clone()
    torch.save(dict(state_dict=state, meta=dict()), path)
    return state


def _train_cfg(config: Path, data: Path, work_dir: Path, source: str, load_from, input_size,
               heatmap_size) -> Config:
    """The config shrunk to 2 iterations at a small input, lr 0 so the weights stay as loaded."""
    cfg = load_config(str(config))
    warm = load_config(str(WARM_CONFIGS[source]))
    for pipeline in (cfg.train_pipeline, cfg.train_dataloader.dataset.pipeline):
        for t in pipeline:
            if 'input_size' in t:
                t.input_size = input_size
            if 'encoder' in t:
                t.encoder.update(input_size=input_size, heatmap_size=heatmap_size)
    cfg.model.head.decoder.update(input_size=input_size, heatmap_size=heatmap_size)
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = str(data) + '/'
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator', 'param_scheduler'):
        cfg[key] = None
    cfg.train_cfg = ConfigDict(by_epoch=False, max_iters=2, val_interval=1000)
    cfg.optim_wrapper = ConfigDict(optimizer=dict(type='Adam', lr=0.0))
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.custom_hooks = []
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    # what the shipped warm-start config adds
    cfg.default_hooks.warm_start = warm.default_hooks.warm_start
    cfg.allow_partial_load = warm.allow_partial_load
    cfg.load_from = load_from
    return cfg


def _params_after_training(cfg: Config) -> dict:
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    if cfg.load_from:  # the runtime's checkpoint-fit report of the rewritten checkpoint
        log = next(Path(cfg.work_dir).glob('*/*.log')).read_text()
        assert 'allow_partial_load = True: partial load of the checkpoint' in log
        assert ' new (not in the checkpoint)' in log and 'shape-mismatched' in log
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert torch.isfinite(torch.tensor(loss)), loss
    return {k: v.detach().clone() for k, v in runner.model.named_parameters()}


def _check(params, fresh, stock, renames, expect_loaded, expect_new):
    """Loaded parameters equal the stock ones; all others equal a fresh init with the same seed."""
    loaded, new = [], []
    for key, value in params.items():
        src = renames.get(key, key)
        if src in stock and stock[src].shape == value.shape:
            assert torch.equal(value, stock[src]), key
            assert not torch.equal(fresh[key], stock[src]), key
            loaded.append(key)
        else:
            assert torch.equal(value, fresh[key]), key
            new.append(key)
    for key in expect_loaded:
        assert key in loaded, key
    for key in expect_new:
        assert key in new, key
    return loaded, new


def test_samkr_from_stock_dekr(tmp_path):
    data = make_tiny_data(tmp_path / 'data')
    cfg = load_config(str(SAMKR_SYNTH))
    head = cfg.model.head
    stock_cfg = cfg.model.to_dict()
    stock_cfg['head'] = dict(
        type='DEKRHead',
        in_channels=head.in_channels,
        num_keypoints=17,
        num_displacement_filters_per_keypoint=15,
        heatmap_loss=head.heatmap_loss.to_dict(),
        displacement_loss=head.displacement_loss.to_dict(),
        decoder=head.decoder.to_dict(),
        rescore_cfg=None)
    ckpt = tmp_path / 'dekr.pth'
    stock = _stock_checkpoint(stock_cfg, ckpt, seed=123)
    kw = dict(source='dekr', input_size=(64, 64), heatmap_size=(16, 16))
    params = _params_after_training(
        _train_cfg(SAMKR_SYNTH, data, tmp_path / 'w', load_from=str(ckpt), **kw))
    fresh = _params_after_training(
        _train_cfg(SAMKR_SYNTH, data, tmp_path / 'f', load_from=None, **kw))
    # SAMKR's final grouped conv sits after ULSAM (index 3), one index after DEKR's
    renames = {
        'head.displacement_conv_layers.4.bias': 'head.displacement_conv_layers.3.bias',
        'head.displacement_conv_layers.4.weight': 'head.displacement_conv_layers.3.weight'
    }
    loaded, new = _check(
        params,
        fresh,
        stock,
        renames,
        expect_loaded=[
            'backbone.conv1.weight', 'head.heatmap_conv_layers.0.conv.weight',
            'head.displacement_conv_layers.1.transform_matrix_conv.bias',
            'head.displacement_conv_layers.4.bias'
        ],
        expect_new=[
            'head.displacement_conv_layers.3.dw_conv.weight',  # ULSAM
            'head.displacement_conv_layers.0.conv.weight',  # 255 -> 272 channels
            'head.displacement_conv_layers.4.weight'
        ])  # 15 -> 16 inputs per group
    assert all(k.startswith('head.displacement_conv_layers.') for k in new)
    assert [k for k in params if k.startswith('backbone.')] == \
        [k for k in loaded if k.startswith('backbone.')]


def test_esam_from_stock_simplebaseline(tmp_path):
    data = make_tiny_data(tmp_path / 'data')
    cfg = load_config(str(ESAM_SYNTH))
    backbone = cfg.model.backbone.to_dict()
    for key in ('attention_stages', 'reduction', 'sam_layout'):
        backbone.pop(key)
    backbone['type'] = 'ResNet'
    stock_cfg = cfg.model.to_dict()
    stock_cfg.update(
        backbone=backbone,
        head=dict(
            type='HeatmapHead',
            in_channels=128,
            out_channels=17,
            deconv_out_channels=(64, 64),
            deconv_kernel_sizes=(4, 4),
            loss=dict(type='KeypointMSELoss', use_target_weight=True),
            decoder=cfg.model.head.decoder.to_dict()))
    ckpt = tmp_path / 'simplebaseline.pth'
    stock = _stock_checkpoint(stock_cfg, ckpt, seed=123)
    kw = dict(source='simplebaseline', input_size=(48, 64), heatmap_size=(12, 16))
    params = _params_after_training(
        _train_cfg(ESAM_SYNTH, data, tmp_path / 'w', load_from=str(ckpt), **kw))
    fresh = _params_after_training(
        _train_cfg(ESAM_SYNTH, data, tmp_path / 'f', load_from=None, **kw))
    # a head tensor of matching shape that is NOT transferred: only the backbone is
    assert stock['head.final_layer.weight'].shape == params['head.final_layer.weight'].shape
    stock_backbone = {k: v for k, v in stock.items() if k.startswith('backbone.')}
    loaded, new = _check(
        params,
        fresh,
        stock_backbone, {},
        expect_loaded=['backbone.conv1.weight', 'backbone.layer4.1.conv2.weight'],
        expect_new=['backbone.attn1.channel_gate.conv1.conv.weight', 'head.final_layer.weight'])
    assert all(k.startswith('backbone.') for k in loaded)
    assert all(k.startswith('backbone.attn') or k.startswith('head.') for k in new)


def test_warm_start_state_dict_keeps_own_names_and_rejects_unknown_source():
    import pytest
    with pytest.raises(
            ValueError, match=r"source='hrnet' is not one of \['dekr', 'simplebaseline'\]"):
        warm_start_state_dict({}, torch.nn.Module(), 'hrnet')
