"""tools/analysis_tools/vis_attention.py and mmpose_attn.visualization.attention_maps: attention
maps over an image from forward hooks, for the real ESAM-R50 and SAMKR-W32 structures (random
weights; SAMKR at a 128x128 input to stay short) and the synthetic configs."""
import itertools
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmpose_attn.apis import build_pose_model
from mmpose_attn.visualization import attention_maps as am

ROOT = Path(__file__).resolve().parents[2]
ESAM_R50 = 'configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py'
SAMKR_W32 = 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py'
SAMKR_SHARED = 'configs/samkr/ablation/samkr-t1-shared-g8-c272_hrnet-w32_8xb10-140e_coco-512x512.py'
SYN_ESAM = 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py'
SYN_ESAM_CP = 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-crowdpose-128x96.py'
SYN_SAMKR = 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py'
SMALL_SAMKR = {
    'test_dataloader.dataset.pipeline.1.input_size': (128, 128),
    'model.head.decoder.input_size': (128, 128),
    'model.head.decoder.heatmap_size': (32, 32)
}
CONFIGS = {  # name -> (config, cfg_options, kind, input (H, W) of the tensor-forward check)
    'esam-r50': (ESAM_R50, None, 'esam', (256, 192)),
    'samkr-w32': (SAMKR_W32, SMALL_SAMKR, 'samkr', (128, 128)),
    'synthetic-esam-coco': (SYN_ESAM, None, 'esam', (128, 96)),
    'synthetic-esam-crowdpose': (SYN_ESAM_CP, None, 'esam', (128, 96)),
    'synthetic-samkr': (SYN_SAMKR, None, 'samkr', (128, 128)),
}
_MODELS = {}


def _model(name):
    """The model of CONFIGS[name] with seeded random weights, built once per session."""
    if name not in _MODELS:
        config, options, _, _ = CONFIGS[name]
        torch.manual_seed(0)
        with pytest.warns(UserWarning, match='RANDOMLY INITIALISED'):
            _MODELS[name] = build_pose_model(
                str(ROOT / config), 'none', device='cpu', cfg_options=options)
    return _MODELS[name]


@pytest.fixture(scope='module')
def image():
    """A 150x110 BGR image (not the input's aspect ratio) with smooth structure."""
    yy, xx = np.mgrid[0:150, 0:110].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(xx / 9), 128 + 100 * np.cos(yy / 13), 255 * (xx + yy) / 260],
                   -1)
    cv2.circle(img, (60, 50), 18, (255, 255, 255), -1)
    return img.clip(0, 255).astype(np.uint8)


def _hook_count(model):
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.mark.parametrize('name', ['esam-r50', 'samkr-w32'])
def test_hooks_leave_outputs_unchanged_and_are_removed(name):
    model = _model(name)
    h, w = CONFIGS[name][3]
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    hooks_before = _hook_count(model)
    with torch.no_grad():
        plain = model(x, None, mode='tensor')
        recorder = am.AttentionRecorder(model)
        with recorder:
            assert _hook_count(model) > hooks_before
            hooked = model(x, None, mode='tensor')
    assert _hook_count(model) == hooks_before
    plain = plain if isinstance(plain, (tuple, list)) else (plain, )
    hooked = hooked if isinstance(hooked, (tuple, list)) else (hooked, )
    assert len(plain) == len(hooked)
    for a, b in zip(plain, hooked):
        assert torch.equal(a, b)
    # what was recorded is what the modules' contract says
    if CONFIGS[name][2] == 'esam':
        assert list(recorder.stages) == [1, 2, 3, 4]
        for n, (mod_name, stage) in recorder.stages.items():
            feats = recorder.get('features', mod_name)
            spatial = recorder.get('spatial', mod_name)
            channel = recorder.get('channel', mod_name)
            assert spatial.shape == (1, ) + feats.shape[1:]
            assert channel.shape == (feats.shape[0], 1, 1)
            assert 0 < spatial.min() and spatial.max() < 1 and 0 < channel.min() < channel.max() < 1
    else:
        (uname, ulsam), = recorder.ulsams.items()
        maps = recorder.get('subspaces', uname)
        assert maps.shape == (17 * 8, h // 4, w // 4)
        torch.testing.assert_close(maps.sum((1, 2)), torch.ones(17 * 8))
        assert recorder.get('heatmaps', 'head').shape == (18, h // 4, w // 4)


def test_hooks_are_removed_when_the_forward_fails():
    model = _model('synthetic-esam-coco')
    hooks_before = _hook_count(model)
    with pytest.raises(RuntimeError):
        with am.AttentionRecorder(model):
            model(torch.randn(1, 5, 64, 48), None, mode='tensor')  # 5 channels: the stem conv fails
    assert _hook_count(model) == hooks_before


def test_flip_test_records_the_unflipped_pass(image):
    """With flip test the backbone runs twice; the maps are those of the image, not its mirror."""
    from mmpose.apis import inference_topdown
    model = _model('esam-r50')
    assert model.test_cfg['flip_test']
    runs = []
    try:
        for flip in (True, False):
            model.test_cfg['flip_test'] = flip
            with torch.no_grad(), am.AttentionRecorder(model) as rec:
                inference_topdown(model, image)
            runs.append(rec.records)
    finally:
        model.test_cfg['flip_test'] = True
    assert runs[0].keys() == runs[1].keys() and len(runs[0]) == 12
    for key in runs[0]:
        torch.testing.assert_close(runs[0][key], runs[1][key])


def test_flip_and_multiscale_test_record_the_image_at_scale_1(image):
    """Bottom-up with flip and scales [1, 0.5, 1.5]: the maps are those of a plain single pass."""
    from mmpose.apis import inference_bottomup
    plain = _model('synthetic-samkr')
    assert not plain.test_cfg.get('flip_test') and not plain.test_cfg.get('multiscale_test')
    options = {
        'model.test_cfg.multiscale_test': True,
        'model.test_cfg.flip_test': True,
        'test_dataloader.dataset.pipeline.1.aug_scales': [0.5, 1.5]
    }
    with pytest.warns(UserWarning, match='RANDOMLY INITIALISED'):
        tta = build_pose_model(str(ROOT / SYN_SAMKR), 'none', device='cpu', cfg_options=options)
    tta.load_state_dict(plain.state_dict())
    runs = []
    for model in (tta, plain):
        with torch.no_grad(), am.AttentionRecorder(model) as rec:
            sample = inference_bottomup(model, image)[0]
        runs.append((rec.records, sample.metainfo))
    assert runs[0][1]['aug_scales'] == [0.5, 1.5]
    np.testing.assert_allclose(runs[0][1]['input_scale'], runs[1][1]['input_scale'])
    assert runs[0][0].keys() == runs[1][0].keys() and len(runs[0][0]) == 2
    for key in runs[0][0]:
        torch.testing.assert_close(runs[0][0][key], runs[1][0][key])


def _tiles(png, img_hw, n, cols):
    """The n image-sized tiles of a tiled PNG, checking the grid's shape."""
    h, w = img_hw
    rows = math.ceil(n / cols)
    assert png.shape == (rows * h, cols * w, 3)
    return [
        png[r * h:(r + 1) * h, c * w:(c + 1) * w] for r, c in (divmod(i, cols) for i in range(n))
    ]


def _below_label(tile_img):
    return tile_img[tile_img.shape[0] // 2:].astype(np.int16)


def _all_distinct(imgs):
    for a, b in itertools.combinations(imgs, 2):
        assert np.abs(a - b).mean() > 1.0  # colour levels, out of 255


@pytest.mark.parametrize('name', list(CONFIGS))
def test_one_distinct_map_per_stage_and_keypoint(name, image, tmp_path):
    model = _model(name)
    kind = CONFIGS[name][2]
    drawings = am.visualize_attention(model, image, topk=5)
    paths = am.write_drawings(drawings, str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(p).name for p in paths)
    pngs = {p.name: cv2.imread(str(p)) for p in tmp_path.iterdir()}
    hw = image.shape[:2]
    if kind == 'esam':
        expected = [
            f'esam_stage{n}_{what}.png' for n in (1, 2, 3, 4) for what in ('spatial', 'channels')
        ]
        assert sorted(pngs) == sorted(expected)
        spatial = [pngs[f'esam_stage{n}_spatial.png'] for n in (1, 2, 3, 4)]
        for png in spatial:
            assert png.shape == hw + (3, )
        _all_distinct([_below_label(p) for p in spatial])
        for n in (1, 2, 3, 4):
            tiles = _tiles(pngs[f'esam_stage{n}_channels.png'], hw, 5, cols=4)
            _all_distinct([_below_label(t) for t in tiles])
    else:
        meta = model.dataset_meta
        names = [meta['keypoint_id2name'][k] for k in range(meta['num_keypoints'])]
        expected = [f'samkr_kpt{k:02d}_{n}.png' for k, n in enumerate(names)]
        assert sorted(pngs) == sorted(expected)
        assert 'samkr_kpt03_left_ear.png' in pngs
        g = model.head.structure['g']
        per_kpt = [_tiles(pngs[f], hw, 1 + g, cols=math.ceil(math.sqrt(1 + g))) for f in expected]
        # each keypoint: its heatmap and g subspace maps differ; keypoints differ from each other
        for tiles in per_kpt:
            _all_distinct([_below_label(t) for t in tiles])
        _all_distinct([np.concatenate([_below_label(t) for t in tiles[1:]]) for tiles in per_kpt])
    # over the image: every drawing keeps the image (draw_featmap's alpha 0.5 blend)
    first = cv2.imread(str(paths[0]))[:hw[0], :hw[1]]
    gray = cv2.cvtColor(first, cv2.COLOR_BGR2GRAY).astype(np.float32)[hw[0] // 2:]
    ref = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)[hw[0] // 2:]
    assert np.corrcoef(gray.ravel(), ref.ravel())[0, 1] > 0.3


def test_shared_branch_draws_the_shared_subspaces_once(image, tmp_path):
    """SAMKR Table 1's shared branch: one ULSAM for all keypoints, drawn once, plus heatmaps."""
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='RANDOMLY INITIALISED'):
        model = build_pose_model(
            str(ROOT / SAMKR_SHARED), 'none', device='cpu', cfg_options=SMALL_SAMKR)
    drawings = am.visualize_attention(model, image)
    assert 'samkr_subspaces.png' in drawings and len(drawings) == 1 + 17
    _tiles(drawings['samkr_subspaces.png'], image.shape[:2], 8, cols=3)
    assert drawings['samkr_kpt00_nose.png'].shape == image.shape  # the heatmap alone


@pytest.mark.parametrize('udp', [False, True])
def test_maps_land_where_mmpose_puts_keypoints(udp):
    """A map's peak lands on the image where mmpose's decoders put a keypoint found at that
    heatmap pixel: ``x_img = x_hm / w_hm · scale + center − scale / 2`` (MSRAHeatmap; UDPHeatmap
    divides by ``w_hm − 1``)."""
    img = np.zeros((300, 200, 3), np.uint8)
    center, scale = np.array([90., 160.]), np.array([150., 200.])
    drawer = am.AttentionDrawer(img, center, scale, udp=udp)
    for (i, j) in [(10, 7), (3, 20), (40, 1), (47, 35)]:
        fmap = torch.zeros(48, 36)
        fmap[i, j] = 1
        on_img = drawer.on_image(fmap)
        y, x = np.unravel_index(on_img.argmax(), on_img.shape)
        ex = j / (36 - udp) * scale[0] + center[0] - scale[0] / 2
        ey = i / (48 - udp) * scale[1] + center[1] - scale[1] / 2
        assert abs(x - ex) <= 1 and abs(y - ey) <= 1, (i, j, x, y, ex, ey)


def _view_hw(x, y, w, h):
    """What the synthetic ESAM (input 96x128, w x h) sees of the 150x110 image for a box: the box
    padded by GetBBoxCenterScale (1.25), widened to the input's aspect ratio (TopdownAffine),
    clipped to the image."""
    sw, sh = w * 1.25, h * 1.25
    sw, sh = (sw, sw / 0.75) if sw > sh * 0.75 else (sh * 0.75, sh)
    cx, cy = x + w / 2, y + h / 2
    x0, x1 = max(0, math.floor(cx - sw / 2)), min(110, math.ceil(cx + sw / 2))
    y0, y1 = max(0, math.floor(cy - sh / 2)), min(150, math.ceil(cy + sh / 2))
    return y1 - y0, x1 - x0


def test_bbox_draws_over_what_the_network_saw(image):
    model = _model('synthetic-esam-coco')
    drawings = am.visualize_attention(model, image, bbox=[30., 40., 40., 50.])
    assert drawings['esam_stage1_spatial.png'].shape[:2] == _view_hw(30, 40, 40, 50)
    assert _view_hw(30, 40, 40, 50) != image.shape[:2]


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_cli_bbox_file_takes_the_best_person_box(image, tmp_path):
    img = tmp_path / '000000000007.png'
    cv2.imwrite(str(img), image)
    dets = [
        dict(image_id=7, category_id=1, bbox=[5, 5, 30, 30], score=0.5),
        dict(image_id=7, category_id=1, bbox=[30, 40, 40, 50], score=0.9),
        dict(image_id=7, category_id=2, bbox=[0, 0, 100, 100], score=1.0),
        dict(image_id=8, category_id=1, bbox=[0, 0, 100, 100], score=1.0)
    ]
    (tmp_path / 'dets.json').write_text(json.dumps(dets))
    paths = _tool().main([
        str(ROOT / SYN_ESAM), 'none',
        str(img), '--out',
        str(tmp_path / 'o'), '--bbox-file',
        str(tmp_path / 'dets.json')
    ])
    assert len(paths) == 8
    assert cv2.imread(str(tmp_path /
                          'o/esam_stage2_spatial.png')).shape[:2] == _view_hw(30, 40, 40, 50)


def _tool():
    import vis_attention  # tools/analysis_tools, on pytest.ini's pythonpath
    return vis_attention


def test_cli_is_deterministic_on_a_real_image(shared_data, tmp_path):
    image = shared_data / 'demo' / 'human-pose.jpeg'
    tool = _tool()
    outs = []
    for run in ('a', 'b'):
        with pytest.warns(UserWarning, match='RANDOMLY INITIALISED'):
            paths = tool.main([
                str(ROOT / SYN_ESAM), 'none',
                str(image), '--out',
                str(tmp_path / run), '--topk', '4'
            ])
        outs.append({Path(p).name: Path(p).read_bytes() for p in paths})
    assert len(outs[0]) == 8 and outs[0] == outs[1]
    hw = cv2.imread(str(image)).shape[:2]
    assert cv2.imread(str(tmp_path / 'a' / 'esam_stage3_spatial.png')).shape[:2] == hw
    assert not list(tmp_path.glob('*/.*.tmp'))


@pytest.mark.parametrize('argv, message', [
    ([SYN_ESAM, 'none', 'missing.jpg'], "IMAGE 'missing.jpg' does not exist"),
    ([SYN_ESAM, 'none', '{img}', '--bbox', '500', '10', '20', '20'], 'lies outside'),
    ([SYN_ESAM, 'none', '{img}', '--bbox', '5', '10', '0', '20'], 'must be positive'),
    ([SYN_SAMKR, 'none', '{img}', '--bbox', '5', '10', '20', '20'], 'bottom-up model'),
    ([SYN_ESAM, 'none', '{img}', '--ann-file', 'a.json'], '--ann-file maps the image'),
    ([SYN_ESAM, 'none', '{img}', '--topk', '0'], '--topk must be at least 1'),
    ([SYN_ESAM, 'none', '{img}', '--alpha', '1.5'], r'--alpha must lie in \[0, 1\]'),
    ([
        'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py',
        'none', '{img}'
    ], 'no ESAM StageAttention and no SAMKR ULSAM'),
])
@pytest.mark.filterwarnings('ignore::UserWarning')
def test_cli_bad_input_names_the_problem(argv, message, image, tmp_path):
    img = tmp_path / 'img.png'
    cv2.imwrite(str(img), image)
    argv = [a.format(img=img) for a in argv] + ['--out', str(tmp_path / 'out')]
    with pytest.raises(SystemExit, match=message):
        _tool().main(argv)
    assert not (tmp_path / 'out').exists()
