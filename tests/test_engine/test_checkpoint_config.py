"""A checkpoint whose saved training config (``meta['cfg']``) defines another network than the
config it is loaded into is refused, even when every key and shape fits (ESAM's serial and
parallel attention layouts); fields that do not change the network are no difference."""
import logging
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmpose_attn.datasets.synthetic import make_dataset
from mmpose_attn.engine.checkpoint_fit import CheckpointMismatchError, structure_differences
from mmpose_attn.utils import build_model

REPO = Path(__file__).resolve().parents[2]
TD = str(REPO / 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py')
PARALLEL = {'model.backbone.sam_layout': 'parallel3x3'}


def _checkpoint(path: Path, cfg_options=None, with_cfg=True, init_cfg=None) -> Path:
    """A checkpoint of TD (serial layout) as mmengine's runner saves it: config text in meta."""
    cfg = Config.fromfile(TD)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.model.backbone.init_cfg = init_cfg
    torch.manual_seed(0)
    model = build_model(cfg)
    meta = dict(cfg=cfg.pretty_text) if with_cfg else dict()
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path


def test_serial_checkpoint_refused_by_parallel_config(tmp_path, caplog):
    ckpt = str(_checkpoint(tmp_path / 'serial.pth'))
    # same keys and shapes: the shape check alone lets it through
    par = build_model(TD, cfg_options=PARALLEL)
    assert {
        k: v.shape
        for k, v in par.state_dict().items()
    } == {
        k: v.shape
        for k, v in torch.load(ckpt)['state_dict'].items()
    }
    with pytest.raises(CheckpointMismatchError) as err:
        build_model(TD, ckpt, cfg_options=PARALLEL)
    msg = str(err.value)
    assert (f'checkpoint {ckpt} was trained with another network than this config\'s model' in msg)
    assert ("model.backbone.sam_layout: 'serial3x3' in the checkpoint, 'parallel3x3' in the "
            'config') in msg
    assert msg.count(' in the checkpoint, ') == 1  # nothing else listed
    assert '--cfg-options allow_partial_load=True' in msg

    # the opt-out loads it (warm start) and says what differs
    with caplog.at_level(logging.WARNING, logger='mmengine'):
        model = build_model(TD, ckpt, cfg_options=dict(PARALLEL, allow_partial_load=True))
    assert torch.equal(model.state_dict()['head.final_layer.weight'],
                       torch.load(ckpt)['state_dict']['head.final_layer.weight'])


def test_fields_that_do_not_change_the_network_are_no_difference(tmp_path):
    """Training/test options, losses, init, the codec, SyncBN and a field written out at its
    default do not count; a checkpoint without a saved config is only shape-checked."""
    ckpt = _checkpoint(
        tmp_path / 'a.pth', {
            'model.test_cfg.flip_test': False,
            'model.head.loss.loss_weight': 2.0,
            'model.backbone.norm_cfg': dict(type='SyncBN', requires_grad=True),
            'model.head.decoder.sigma': 3
        },
        init_cfg=dict(type='Pretrained', checkpoint='x.pth'))
    build_model(TD, str(ckpt))
    saved = Config.fromfile(TD).model.to_dict()
    saved['backbone'].pop('sam_layout')  # the class default, serial3x3
    assert structure_differences(saved, Config.fromfile(TD).model.to_dict()) == []
    other = Config.fromfile(TD)
    other.merge_from_dict({
        'model.head.upsample_kernel_sizes': (4, 4, 4),
        'model.backbone.sam_layout': 'k7'
    })
    assert structure_differences(saved, other.model.to_dict()) == [
        ('backbone.sam_layout', 'serial3x3', 'k7'),
        ('head.upsample_kernel_sizes', (3, 3, 3), (4, 4, 4))
    ]
    no_cfg = _checkpoint(tmp_path / 'b.pth', with_cfg=False)
    build_model(TD, str(no_cfg), cfg_options=PARALLEL)  # nothing to compare: shapes fit


def test_inference_api_and_demo_refuse_it(tmp_path):
    from _demo_tools import load_tool

    from mmpose_attn.apis import AttnPoseInferencer
    ckpt = str(_checkpoint(tmp_path / 'serial.pth'))
    (tmp_path / 'dets.json').write_text('[]')
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in/000000000001.jpg'), np.zeros((64, 48, 3), np.uint8))
    with pytest.raises(CheckpointMismatchError, match='model.backbone.sam_layout'):
        AttnPoseInferencer(TD, ckpt, device='cpu', cfg_options=PARALLEL, expect='topdown')
    with pytest.raises(CheckpointMismatchError, match='model.backbone.sam_layout'):
        load_tool('topdown_demo_with_mmdet').main([
            '-', '-', TD, ckpt, '--input',
            str(tmp_path / 'in'), '--bbox-file',
            str(tmp_path / 'dets.json'), '--output-root',
            str(tmp_path / 'out'), '--device', 'cpu', '--cfg-options',
            'model.backbone.sam_layout=parallel3x3'
        ])


def test_mim_test_refuses_it_and_takes_the_checkpoints_own_config(tmp_path):
    """The runner's loads (``mim test --checkpoint``, ``load_from``) go through
    CheckpointFitHook: the same refusal there; the checkpoint's own config tests normally."""
    root = Path(
        make_dataset(str(tmp_path / 'data'), 'coco', train_images=0, val_images=2,
                     seed=0)['data_root'])
    ckpt = _checkpoint(tmp_path / 'serial.pth')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))

    def mim_test(*options):
        proc = subprocess.run([
            'mim', 'test', 'mmpose', TD, '--checkpoint',
            str(ckpt), '--work-dir',
            str(tmp_path / 'work'), '--cfg-options', f'test_dataloader.dataset.data_root={root}/',
            *options
        ],
                              cwd=REPO,
                              env=env,
                              capture_output=True,
                              text=True,
                              timeout=300)
        return proc.returncode, proc.stdout + proc.stderr

    rc, out = mim_test('model.backbone.sam_layout=parallel3x3')
    assert rc != 0 and 'CheckpointMismatchError' in out, out[-3000:]
    assert "model.backbone.sam_layout: 'serial3x3' in the checkpoint, 'parallel3x3' in the " \
        'config' in out and 'coco/AP: ' not in out
    rc, out = mim_test()
    assert rc == 0 and 'coco/AP: ' in out, out[-3000:]
