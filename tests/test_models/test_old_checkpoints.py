"""Checkpoints written by an earlier version load strictly and give the same outputs."""
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import load_checkpoint
from mmpose.registry import MODELS

import mmpose_attn  # noqa: F401

# tiny models built, randomised and run by the code of commit 0d93145 (see generate.py there)
FIXTURES = Path(__file__).resolve().parents[1] / 'fixtures'
FIXTURE = FIXTURES / 'old_checkpoints' / 'models_0d93145.pth'


@pytest.fixture(scope='module')
def old():
    return torch.load(FIXTURE, map_location='cpu', weights_only=False)


def _build(cfg):
    with DefaultScope.overwrite_default_scope('mmpose'):
        return MODELS.build(cfg).eval()


def _outputs(name, model, x):
    with torch.no_grad():
        if name.startswith('esam'):
            return (model(x, None, mode='tensor'), )
        if name == 'samkr_head':
            return tuple(model((x, )))
        return (model(x), )


@pytest.mark.parametrize('name', ['esam', 'esam_interp_first', 'samkr_head', 'ulsam_norm_act'])
def test_old_checkpoint_loads_strictly_with_equal_outputs(old, name, tmp_path):
    entry = old[name]
    model = _build(entry['cfg'])
    # through mmengine's loader, as `load_from` / `--resume` / the inferencers load it
    path = tmp_path / 'old.pth'
    torch.save(dict(meta=dict(), state_dict=entry['state_dict']), path)
    load_checkpoint(model, str(path), map_location='cpu', strict=True)
    for got, want in zip(_outputs(name, model, entry['input']), entry['outputs'], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # and through torch's; ESAM's keys also from a copy that lost the version metadata (a DEKR
    # head without it is read as mmpose 0.x's, whose centre heatmap came first)
    model = _build(entry['cfg'])
    state_dict = entry['state_dict'] if name == 'samkr_head' else OrderedDict(entry['state_dict'])
    model.load_state_dict(state_dict, strict=True)
    for got, want in zip(_outputs(name, model, entry['input']), entry['outputs'], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_old_channel_gate_keys_move_and_new_checkpoints_round_trip(old):
    """The fixture really is the old layout, and today's checkpoints load as they are."""
    entry = old['esam']
    old_keys = set(entry['state_dict'])
    assert 'backbone.attn1.channel_gate.fc1.weight' in old_keys
    model = _build(entry['cfg'])
    new_keys = set(model.state_dict())
    assert 'backbone.attn1.channel_gate.conv1.conv.weight' in new_keys
    assert {k
            for k in old_keys ^ new_keys} == {
                f'backbone.attn{i}.channel_gate.{p}.{t}'
                for i in (1, 2)
                for t in ('weight', 'bias')
                for p in ('fc1', 'fc2', 'conv1.conv', 'conv2.conv')
            }
    model.load_state_dict(entry['state_dict'], strict=True)
    again = _build(entry['cfg'])
    again.load_state_dict(model.state_dict(), strict=True)
    for a, b in zip(
            _outputs('esam', model, entry['input']), _outputs('esam', again, entry['input'])):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
