"""mmpose_attn.compat: each workaround's guard, and what each one fixes, on real runs."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mmpose
import numpy as np
import pytest
import torch
from _tiny_train import (GN_OPTIONS, TINY_CONFIG, job_env, reference_run, run_job, session_root,
                         train_command)
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import CheckpointLoader

from mmpose_attn.compat import (cpu_distributed, mmpose_tools_runner_type, numpy_draw_circles,
                                torch_weights_only, xtcocotools_owndata)
from mmpose_attn.compat.torch_weights_only import MARKER, WeightsOnlyCheckpointHook


# ------------------------------------------------------------------------------------- guards
def test_weights_only_guard():
    assert torch_weights_only.needs_weights_only_format('2.6.0')
    assert torch_weights_only.needs_weights_only_format('2.14.1+cu130')
    assert not torch_weights_only.needs_weights_only_format('2.5.1')
    assert not torch_weights_only.needs_weights_only_format('1.13.1')
    # right for the installed torch: active exactly when a plain torch.load refuses numpy objects
    path = Path(session_root()) / 'numpy_in_pickle.pth'
    torch.save({'a': np.zeros(2)}, path)
    try:
        torch.load(path)
        refused = False
    except Exception:  # pickle.UnpicklingError
        refused = True
    assert torch_weights_only.WEIGHTS_ONLY_FORMAT_NEEDED == refused


def test_draw_circles_guard():
    assert numpy_draw_circles.needs_scalar_circles('2.3.0')
    assert numpy_draw_circles.needs_scalar_circles('2.4.6')
    assert not numpy_draw_circles.needs_scalar_circles('2.2.6')
    assert not numpy_draw_circles.needs_scalar_circles('1.26.4')
    # right for the installed numpy: active exactly when int() refuses a 1-element array
    try:
        int(np.array([3]))
        refused = False
    except TypeError:
        refused = True
    assert numpy_draw_circles.SCALAR_CIRCLES_NEEDED == refused


def test_cpu_distributed_guard():
    assert cpu_distributed.needs_cpu_distributed(cuda_available=False, launcher='pytorch')
    assert cpu_distributed.needs_cpu_distributed(cuda_available=False, launcher='slurm')
    assert not cpu_distributed.needs_cpu_distributed(cuda_available=True, launcher='pytorch')
    assert not cpu_distributed.needs_cpu_distributed(cuda_available=False, launcher='none')
    assert cpu_distributed.needs_cpu_distributed(torch.cuda.is_available(),
                                                 'pytorch') == (not torch.cuda.is_available())


def test_runner_type_guard():
    assert mmpose_tools_runner_type.needs_runner_type_dispatch('1.3.2')
    assert not mmpose_tools_runner_type.needs_runner_type_dispatch('1.4.0')
    # right for the installed mmpose: its scripts build Runner.from_cfg and never read runner_type
    tools = Path(mmpose.__file__).parent / '.mim' / 'tools'
    for name in ('train.py', 'test.py'):
        source = (tools / name).read_text()
        assert 'Runner.from_cfg(cfg)' in source and 'runner_type' not in source
    assert mmpose_tools_runner_type.needs_runner_type_dispatch()


def test_plugin_config_selects_the_compat_pieces():
    from mmengine.config import Config
    cfg = Config.fromfile(str(TINY_CONFIG))
    assert cfg.runner_type == 'DeviceAwareRunner'
    assert cfg.model_wrapper_cfg.type == 'DeviceAwareDistributedDataParallel'
    # merged with mmpose's visualizer dict, not replacing it
    assert cfg.visualizer.type == 'ScalarCirclesPoseLocalVisualizer'
    assert cfg.visualizer.vis_backends == [dict(type='LocalVisBackend')]
    assert dict(type='WeightsOnlyCheckpointHook') in cfg.custom_hooks


# ------------------------------------------------------------------------- visualizer (numpy)
def test_stock_visualizer_cfg_gets_the_scalar_circles_one():
    stock = dict(type='PoseLocalVisualizer', radius=3, name='visualizer')
    swapped = numpy_draw_circles.scalar_circles_visualizer_cfg(stock)
    if numpy_draw_circles.SCALAR_CIRCLES_NEEDED:
        assert swapped == dict(stock, type='ScalarCirclesPoseLocalVisualizer')
    else:
        assert swapped == stock
    other = dict(type='MyVisualizer')
    assert numpy_draw_circles.scalar_circles_visualizer_cfg(other) == other


def test_inference_swaps_a_stock_configs_visualizer():
    """The demos build stock mmpose configs too: theirs is PoseLocalVisualizer."""
    from mmpose_attn.apis.models import prepare_pose_config
    cfg, _ = prepare_pose_config(
        'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py',
        'none')
    assert cfg.visualizer.type == ('ScalarCirclesPoseLocalVisualizer'
                                   if numpy_draw_circles.SCALAR_CIRCLES_NEEDED else
                                   'PoseLocalVisualizer')


@pytest.mark.skipif(
    not numpy_draw_circles.SCALAR_CIRCLES_NEEDED, reason='numpy < 2.3 draws with mmpose as is')
def test_stock_visualizer_fails_where_ours_draws():
    from mmpose.registry import VISUALIZERS
    img = np.zeros((20, 20, 3), np.uint8)
    stock = VISUALIZERS.build(dict(type='PoseLocalVisualizer', name='compat_stock'))
    stock.set_image(img)
    with pytest.raises(TypeError, match='0-dimensional'):
        stock.draw_circles(np.array([10., 10.]), radius=np.array([3]), face_colors=(255, 0, 0))
    ours = VISUALIZERS.build(dict(type='ScalarCirclesPoseLocalVisualizer', name='compat_ours'))
    ours.set_image(img)
    ours.draw_circles(np.array([10., 10.]), radius=np.array([3]), face_colors=(255, 0, 0))
    drawn = ours.get_image()
    assert drawn[10, 10].tolist() == [255, 0, 0] and drawn[0, 0].sum() == 0


# ------------------------------------------------------------------------- checkpoints (torch)
def _load(path):
    """What load_from / --resume / init_model get: mmengine's loader for local files."""
    return CheckpointLoader.load_checkpoint(str(path), map_location='cpu')


def _assert_same(a, b, where='meta'):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{where}[{i}]')
    else:
        assert type(a) is type(b) and a == b, where


def test_encode_decode_round_trip_through_a_file(tmp_path):
    """Any numpy array, numpy scalars and HistoryBuffers survive save + weights-only load."""
    hub = MessageHub('compat_round_trip')
    for i, loss in enumerate([0.5, 0.25, 0.125]):
        hub.update_scalar('train/loss', loss)
        hub.update_scalar('train/lr', np.float32(1e-3 * (i + 1)), count=2)
    hub.update_info('epoch', 3)
    meta = dict(
        dataset_meta=dict(
            sigmas=np.array([0.026, 0.025], np.float32),
            colors=np.array([[255, 0, 0]], np.uint8),
            weights=np.array([1.5, 1.0]).astype('>f8'),  # big-endian: through the list path
            names=np.array(['nose', 'eye']),
            flip_pairs=[(1, 2)],
            num_keypoints=2,
            scale=np.float64(0.5),
            visible=np.bool_(True),
            empty=np.zeros((0, 3))),
        seed=0)
    checkpoint = dict(meta=meta, message_hub=hub.state_dict(), state_dict={'w': torch.arange(3.)})
    original_meta = dict(meta)
    WeightsOnlyCheckpointHook().before_save_checkpoint(None, checkpoint)
    assert checkpoint['meta']['dataset_meta']['sigmas'][MARKER] == 'ndarray'
    assert meta == original_meta and isinstance(meta['dataset_meta']['sigmas'], np.ndarray)
    path = tmp_path / 'ckpt.pth'
    torch.save(checkpoint, path)

    torch.load(path, weights_only=True)  # what publish_model.py and plain scripts do
    loaded = _load(path)
    _assert_same(meta, loaded['meta'])
    restored = MessageHub('compat_round_trip_restored')
    restored.load_state_dict(loaded['message_hub'])
    for key in ('train/loss', 'train/lr'):
        a, b = hub.get_scalar(key), restored.get_scalar(key)
        assert isinstance(b, HistoryBuffer) and b.max_length == a.max_length
        _assert_same(a.data[0], b.data[0], key)
        _assert_same(a.data[1], b.data[1], key)
    assert restored.get_info('epoch') == 3
    torch.testing.assert_close(loaded['state_dict']['w'], torch.arange(3.))


def test_checkpoint_of_stock_mmengine_still_loads(tmp_path):
    """Checkpoints written without the hook (mmpose's model zoo, older runs) load with a warning."""
    path = tmp_path / 'stock.pth'
    meta = dict(dataset_meta=dict(sigmas=np.array([0.1, 0.2], np.float32)))
    torch.save(dict(meta=meta, state_dict={'w': torch.ones(2)}), path)
    loaded = _load(path)
    _assert_same(meta, loaded['meta'])


@pytest.mark.slow
def test_training_checkpoint_is_weights_only_and_publishable(tmp_path):
    """A checkpoint of a real training run: plain weights-only load, mmpose's publish_model.py."""
    ckpt = reference_run() / 'epoch_3.pth'
    plain = torch.load(ckpt, map_location='cpu', weights_only=True)
    script = Path(mmpose.__file__).parent / '.mim' / 'tools' / 'misc' / 'publish_model.py'
    env = {k: v for k, v in os.environ.items() if k != 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'}
    out = tmp_path / 'published.pth'
    proc = subprocess.run([sys.executable, str(script),
                           str(ckpt), str(out)],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    deadline = time.time() + 30  # the script renames its output in a background `mv`
    while not list(tmp_path.glob('published-*.pth')) and time.time() < deadline:
        time.sleep(0.1)
    published, = tmp_path.glob('published-*.pth')
    time.sleep(0.2)
    pub = torch.load(published, map_location='cpu', weights_only=True)
    assert pub.keys() == {'meta', 'state_dict'}
    assert pub['state_dict'].keys() == plain['state_dict'].keys()
    for k, v in plain['state_dict'].items():
        assert torch.equal(pub['state_dict'][k], v), k


@pytest.mark.slow
def test_init_model_gets_numpy_dataset_meta():
    from mmpose.apis import init_model
    from mmpose.registry import DATASETS

    import mmpose_attn  # noqa: F401
    data = session_root() / 'data'
    dataset = DATASETS.build(
        dict(
            type='ValidatedCocoDataset',
            data_root=str(data) + os.sep,
            data_mode='topdown',
            ann_file='annotations/train.json',
            data_prefix=dict(img='images/'),
            pipeline=[]))
    model = init_model(
        str(TINY_CONFIG),
        str(reference_run() / 'epoch_3.pth'),
        device='cpu',
        cfg_options=dict(model=dict(backbone=dict(norm_cfg=dict(type='GN', num_groups=8)))))
    assert isinstance(model.dataset_meta['sigmas'], np.ndarray)
    _assert_same(dict(dataset.metainfo), dict(model.dataset_meta))


@pytest.mark.slow
def test_resume_restores_message_hub_and_continues():
    """Resume epoch 2 of the reference run: the epoch-3 checkpoint's loss/lr histories (12 iters)
    equal the uninterrupted run's, which needs the 8 restored from the checkpoint."""
    root = session_root()
    work_dir = root / 'compat_resume'
    work_dir.mkdir()
    shutil.copy(reference_run() / 'epoch_2.pth', work_dir / 'epoch_2.pth')
    cmd = train_command(TINY_CONFIG, work_dir, cfg_options=GN_OPTIONS)
    at = cmd.index('--work-dir')
    cmd[at:at] = ['--resume', str(work_dir / 'epoch_2.pth')]
    log = run_job(cmd, job_env(root / 'data'), root / 'compat_resume.log')
    assert 'resumed epoch: 2, iter: 8' in log
    resumed = _load(work_dir / 'epoch_3.pth')['message_hub']['log_scalars']
    reference = _load(reference_run() / 'epoch_3.pth')['message_hub']['log_scalars']
    for key in ('train/loss', 'train/lr'):
        assert len(reference[key].data[0]) == 12
        _assert_same(reference[key].data[0], resumed[key].data[0], key)


# ---------------------------------------------------------------- xtcocotools masks, numpy 2.3
def test_owndata_guard():
    # active exactly when a fresh interpreter without the plugin cannot decode a mask
    probe = subprocess.run([
        sys.executable, '-c', 'from xtcocotools import mask as m; '
        'm.decode(m.frPyObjects([[0., 0., 1., 0., 1., 1.]], 2, 2))'
    ],
                           capture_output=True,
                           text=True)
    assert xtcocotools_owndata.OWNDATA_NAME_NEEDED == (probe.returncode != 0)
    if xtcocotools_owndata.OWNDATA_NAME_NEEDED:
        assert 'NPY_OWNDATA' in probe.stderr
    assert not xtcocotools_owndata.needs_owndata_name()  # fixed in this process


def test_bottomup_training_masks_of_real_coco_people(shared_data):
    """mmpose's BottomupGetHeatmapMask on the real COCO images: the people without keypoints are
    masked out of the heatmap loss, where cv2 rasterises their annotated polygons."""
    import json

    import cv2
    from mmengine.registry import init_default_scope
    from mmpose.datasets import CocoDataset
    from mmpose.datasets.transforms import BottomupGetHeatmapMask, LoadImage

    init_default_scope('mmpose')
    root = shared_data / 'coco'
    annotations = json.loads((root / 'annotations/test_coco.json').read_text())['annotations']
    dataset = CocoDataset(
        data_root=f'{root}/',
        ann_file='annotations/test_coco.json',
        data_prefix=dict(img='images/'),
        data_mode='bottomup',
        pipeline=[])
    masked_images = 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        results = LoadImage()(dict(info))
        h, w = results['img_shape']
        results = BottomupGetHeatmapMask()(dict(results, input_size=(w, h)))
        invalid = np.zeros((h, w), np.uint8)
        for ann in annotations:
            if ann['image_id'] == info['img_id'] and ann['num_keypoints'] == 0:
                for poly in ann['segmentation']:
                    points = np.round(np.reshape(poly, (-1, 2))).astype(np.int32)
                    cv2.fillPoly(invalid, [points], 1)
        got = ~results['heatmap_mask']
        if invalid.any():
            masked_images += 1
            invalid = invalid.astype(bool)
            iou = (got & invalid).sum() / (got | invalid).sum()
            assert iou > 0.8, (info['img_path'], iou)
        else:
            assert not got.any()
    assert masked_images == 2
