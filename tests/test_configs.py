"""Shipped configs: inheritance, the SAMKR ablation set of the paper's Tables 1-2, metafiles."""
import functools
import re
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config
from mmpose.registry import MODELS

import mmpose_attn  # noqa: F401  (registers SAMKRHead)

ROOT = Path(__file__).resolve().parents[1]
W32 = ROOT / 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py'
ABLATION = ROOT / 'configs/samkr/ablation'

# (m, c, g, s) of SAMKR Table 1 and Table 2 (g_SAMKR_c, s = c/g), typed from the paper
TABLE1 = {(272, 272, 8, 34), (272, 16, 1, 16), (272, 16, 16, 1), (272, 16, 8, 2)}
TABLE2 = {(2, 16, 8), (4, 16, 4), (8, 16, 2), (8, 8, 1), (8, 24, 3), (4, 8, 2), (12, 24, 2)}


@functools.lru_cache(maxsize=None)
def _structure(path):
    cfg = Config.fromfile(str(path))
    head_cfg = cfg.model.head.to_dict()
    head_cfg['rescore_cfg'] = None
    head = MODELS.build(head_cfg).eval()
    st = head.structure
    return head, (st['branch'], st['m'], st['c'], st['g'], st['s'])


def test_ablation_folder_plus_main_holds_the_ten_structures():
    paths = sorted(ABLATION.glob('*.py')) + [W32]
    structures = [_structure(p)[1] for p in paths]
    assert len(set(structures)) == len(structures) == 10  # no duplicates
    t1 = {s[1:] for s in structures}
    assert TABLE1 <= t1
    per_keypoint = {(g, c, s) for b, m, c, g, s in structures if b == 'per_keypoint'}
    assert TABLE2 <= per_keypoint
    assert len(TABLE1 | {(17 * c, c, g, s) for g, c, s in TABLE2}) == 10


@pytest.mark.parametrize('path', sorted(ABLATION.glob('*.py')) + [W32], ids=lambda p: p.stem)
def test_ablation_builds_with_the_structure_its_name_says(path):
    head, (branch, m, c, g, s) = _structure(path)
    name = re.search(r'-g(\d+)-c(\d+)_', path.name)
    if name:  # ablation: samkr-t{1,2}[-shared]-g{g}-c{c}_...
        assert (g, c) == tuple(map(int, name.groups()))
        assert branch == ('shared' if '-shared-' in path.name else 'per_keypoint')
    assert m == (c if branch == 'shared' else 17 * c) and s == c // g
    ulsam = head.displacement_conv_layers[-2]
    assert (ulsam.num_subspaces, ulsam.subspace_channels) == (head.structure['num_branches'] * g, s)
    with torch.no_grad():
        heatmaps, displacements = head.forward((torch.randn(1, 480, 8, 8), ))
    assert heatmaps.shape == (1, 18, 8, 8) and displacements.shape == (1, 34, 8, 8)


def test_ablation_params_follow_the_structure():
    # the shared branch's dense 272 -> 34 output conv makes it the largest; c changes the width
    params = {
        p.stem.split('_')[0]: sum(x.numel() for x in _structure(p)[0].parameters())
        for p in sorted(ABLATION.glob('*.py')) + [W32]
    }
    assert params['samkr-t2-g8-c8'] < params['samkr'] < params['samkr-t2-g8-c24']
    # at a fixed c, ULSAM's size grows by the same amount per subspace (K branches of g each)
    per_subspace = (params['samkr-t2-g8-c8'] - params['samkr-t2-g4-c8']) / (17 * 4)
    assert per_subspace > 0
    assert params['samkr-t1-g16-c16'] - params['samkr'] == 17 * 8 * per_subspace
    assert max(params, key=params.get) == 'samkr-t1-shared-g8-c272'


def _metafile_models():
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    return [
        m for rel in index['Import'] for m in yaml.safe_load((ROOT / rel).read_text())['Models']
    ]


def test_metafiles_cover_every_shipped_paper_config():
    models = _metafile_models()
    configs = {m['Config'] for m in models}
    for m in models:
        assert (ROOT / m['Config']).is_file(), m['Config']
        assert m['Name'] == Path(m['Config']).stem
        assert m['Metadata']['Paper Table'] and all(r['Paper Table'] for r in m['Results'])
    # warm-start variants train the same structure from another checkpoint: no paper numbers;
    # _base_ files are parts of configs, not models
    shipped = {
        str(p.relative_to(ROOT))
        for d in ('esam', 'samkr')
        for p in (ROOT / 'configs' / d).rglob('*.py')
        if '_warm-' not in p.name and '_base_' not in p.parts
    }
    assert shipped == configs
    ap = {m['Name']: m['Results'][0]['Metrics']['AP'] for m in models}
    assert ap['samkr-t2-g12-c24_hrnet-w32_8xb10-140e_coco-512x512'] == 0.657
    assert ap['samkr_hrnet-w32_8xb10-140e_coco-512x512'] == 0.689


def test_every_shipped_config_inherits():
    for path in (ROOT / 'configs').rglob('*.py'):
        if '_base_' in path.parts:
            continue
        text = path.read_text()
        base = re.search(r"^_base_ = \['([^']+)'", text, re.M)
        assert base, path
        assert base.group(1).startswith(('mmpose::body_2d_keypoint/', './', '../')), path
