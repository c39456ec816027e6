"""Backends and precisions under mmpose's decoding: PyTorch fp32/bf16, ONNX Runtime, OpenVINO.

A small ESAM trained briefly on the 4 real COCO images (the overfit config, 15 epochs: AP ~0.55
on them, peaked heatmaps) is evaluated with COCO AP under every backend and precision: AP within
0.01 of PyTorch fp32 and >= 99 % of the keypoints within 1 px of it. SAMKR (random weights, small
input, flip test) under OpenVINO and ONNX Runtime fp32 gives PyTorch's keypoints within 0.5 px.
Top-down crops batched across images give the results of per-image batches. OpenVINO tests skip
when it is not installed.
"""
import copy
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from _demo_tools import load_tool  # noqa: E402

from mmpose_attn.deployment import onnx as dx  # noqa: E402
from mmpose_attn.deployment import runtime  # noqa: E402
from mmpose_attn.utils import load_config  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OVERFIT = REPO / 'tests/configs/td-hm_esam-res18-w16_1xb16-40e_coco-samples-128x96.py'
SAMKR_SYNTH = str(REPO / 'configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py')
EPOCHS = 15  # AP ~0.55 on the training images: peaked heatmaps, enough to compare backends


def _has_openvino() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


needs_openvino = pytest.mark.skipif(not _has_openvino(), reason='openvino is not installed')


@pytest.fixture(scope='module')
def trained_esam(shared_data, tmp_path_factory):
    """(config, checkpoint, ONNX file, data root) of the overfit ESAM after ``EPOCHS`` epochs."""
    work = tmp_path_factory.mktemp('esam_overfit')
    root = f'{shared_data}/coco/'
    cmd = [sys.executable, str(REPO / 'tools/train.py'), str(OVERFIT), '--work-dir', str(work),
           '--cfg-options', f'train_dataloader.dataset.dataset.data_root={root}',
           f'val_dataloader.dataset.data_root={root}', 'randomness.seed=0',
           f'train_cfg.max_epochs={EPOCHS}', 'train_cfg.val_interval=1000',
           f'default_hooks.checkpoint.interval={EPOCHS}', f'param_scheduler.1.end={EPOCHS}',
           f'param_scheduler.1.T_max={EPOCHS}']
    env = dict(__import__('os').environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='2')
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ckpt = str(work / f'epoch_{EPOCHS}.pth')
    cfg = load_config(str(OVERFIT))
    cfg.test_dataloader.dataset.data_root = root
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_model(cfg, ckpt)
    onnx_file = str(work / 'esam.onnx')
    dx.export_onnx(model, onnx_file, (128, 96))
    return cfg, ckpt, onnx_file, root


def _evaluate(cfg, model):
    """COCO AP of ``model`` on the config's test set, and the keypoints per instance."""
    from mmengine.evaluator import Evaluator
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    init_default_scope('mmpose')
    loader = Runner.build_dataloader(copy.deepcopy(cfg.test_dataloader))
    evaluator = Evaluator(copy.deepcopy(cfg.test_evaluator))
    evaluator.dataset_meta = loader.dataset.metainfo
    keypoints = []
    with torch.no_grad():
        for data in loader:
            outs = model.test_step(data)
            evaluator.process(outs, data)
            keypoints += [o.pred_instances.keypoints for o in outs]
    metrics = evaluator.evaluate(len(loader.dataset))
    return metrics['coco/AP'], np.concatenate(keypoints)


VARIANTS = [('pytorch', 'bf16'), ('onnxruntime', 'auto'),
            pytest.param('openvino', 'auto', marks=needs_openvino),
            pytest.param('openvino', 'fp32', marks=needs_openvino),
            pytest.param('openvino', 'bf16', marks=needs_openvino)]


@pytest.fixture(scope='module')
def esam_reference(trained_esam):
    cfg, ckpt, _, _ = trained_esam
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_model(cfg, ckpt)
    return _evaluate(cfg, model)


@pytest.mark.slow  # trains the model once for the module (about a minute on 2 idle cores)
@pytest.mark.parametrize('backend,precision', VARIANTS)
def test_backend_keeps_accuracy(trained_esam, esam_reference, backend, precision, tmp_path):
    cfg, ckpt, onnx_file, _ = trained_esam
    if backend == 'openvino' and precision == 'bf16' and not runtime.cpu_has_bf16():
        pytest.skip('this CPU has no bf16 instructions')
    ref_ap, ref_kpts = esam_reference
    assert ref_ap > 0.3  # a trained model (random weights score ~0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_model(cfg, ckpt)
    model = runtime.use_backend(model, backend, onnx_file, precision, threads=2,
                                cache_dir=str(tmp_path / 'ov'))
    expected = {'pytorch': runtime.TorchForward, 'onnxruntime': dx.OnnxRuntimeForward}
    if backend in expected:
        assert isinstance(model.backbone, expected[backend])
    ap, kpts = _evaluate(cfg, model)
    assert kpts.shape == ref_kpts.shape
    dist = np.linalg.norm(kpts - ref_kpts, axis=-1)
    assert abs(ap - ref_ap) <= 0.01, (ap, ref_ap)
    assert (dist <= 1.0).mean() >= 0.99, np.sort(dist.ravel())[-10:]
    if precision == 'fp32' or backend == 'onnxruntime':
        assert dist.max() < 0.05  # full precision: the same result up to rounding


def _samkr_batch(n=2, hw=(64, 64)):
    from mmengine.dataset import pseudo_collate
    from mmpose.structures import PoseDataSample
    flip = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    gen = torch.Generator().manual_seed(0)
    h, w = hw
    items = []
    for _ in range(n):
        sample = PoseDataSample(metainfo=dict(
            flip_indices=flip, img_shape=hw, ori_shape=hw, input_size=(w, h),
            input_center=np.array([w / 2, h / 2], np.float32),
            input_scale=np.array([w, h], np.float32)))
        items.append(dict(inputs=torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                                               generator=gen), data_samples=sample))
    return pseudo_collate(items)


@pytest.mark.parametrize('backend', ['onnxruntime', pytest.param('openvino',
                                                                 marks=needs_openvino)])
def test_samkr_fp32_backend_equals_pytorch(backend, tmp_path):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_model(load_config(SAMKR_SYNTH), 'none')
    model.test_cfg['flip_test'] = True
    onnx_file = str(tmp_path / 'samkr.onnx')
    dx.export_onnx(model, onnx_file, (64, 64))
    other = runtime.use_backend(copy.deepcopy(model), backend, onnx_file, 'fp32', threads=2,
                                cache_dir=str(tmp_path / 'ov'))
    data = _samkr_batch()
    with torch.no_grad():
        ref = model.test_step(copy.deepcopy(data))
        got = other.test_step(copy.deepcopy(data))
    for r, g in zip(ref, got):
        rk, gk = r.pred_instances.keypoints, g.pred_instances.keypoints
        assert rk.shape[0] > 0 and rk.shape == gk.shape
        assert np.abs(gk - rk).max() <= 0.5
        np.testing.assert_allclose(g.pred_instances.keypoint_scores,
                                   r.pred_instances.keypoint_scores, atol=1e-3)


def _topdown_demo(trained_esam, out: Path, *extra):
    cfg, ckpt, _, root = trained_esam
    load_tool('topdown_demo_with_mmdet').main([
        '-', '-', str(OVERFIT), ckpt, '--input', f'{root}images', '--bbox-file',
        f'{root}detections/test_coco_det_AP_H_56.json', '--output-root', str(out),
        '--save-predictions', '--device', 'cpu', '--bbox-thr', '0.5', *extra])
    res = {}
    for f in sorted(out.glob('results_*.json')):
        insts = json.loads(f.read_text())['instance_info']
        res[f.name] = np.array([i['keypoints'] for i in insts]).reshape(-1, 17, 2)
    return res


@pytest.mark.slow
def test_topdown_crops_batched_across_images_equal_per_image(trained_esam, tmp_path):
    per_image = _topdown_demo(trained_esam, tmp_path / 'b1', '--precision', 'fp32')
    batched = _topdown_demo(trained_esam, tmp_path / 'b16', '--precision', 'fp32',
                            '--batch-size', '16')
    assert sorted(per_image) == sorted(batched) and len(per_image) == 4
    assert sum(len(k) for k in per_image.values()) > 16  # more crops than one batch holds
    for name in per_image:
        np.testing.assert_allclose(batched[name], per_image[name], atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize('backend', ['onnxruntime', pytest.param('openvino',
                                                                 marks=needs_openvino)])
def test_topdown_demo_backend(trained_esam, backend, tmp_path):
    _, _, onnx_file, _ = trained_esam
    # flip test on: the runtime also runs the flipped batch
    flip = ['--cfg-options', 'model.test_cfg.flip_test=True']
    ref = _topdown_demo(trained_esam, tmp_path / 'ref', '--precision', 'fp32',
                        '--batch-size', '8', *flip)
    got = _topdown_demo(trained_esam, tmp_path / backend, '--backend', backend, '--onnx',
                        onnx_file, '--precision', 'fp32', '--batch-size', '8',
                        '--ov-cache-dir', str(tmp_path / 'ov'), *flip)
    assert sorted(got) == sorted(ref)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], atol=0.05)


@needs_openvino
def test_bottomup_demo_openvino_matches_pytorch(tmp_path):
    import cv2
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_model(load_config(SAMKR_SYNTH), 'none')
    ckpt = str(tmp_path / 'samkr.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    onnx_file = str(tmp_path / 'samkr.onnx')
    dx.export_onnx(model, onnx_file, (256, 256))  # the demo resizes a square image to 256x256
    cv2.imwrite(str(tmp_path / 'img.png'),
                np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
    demo = load_tool('bottomup_demo')
    res = {}
    for name, extra in (('pytorch', [ckpt, '--precision', 'fp32']),
                        ('openvino', ['none', '--backend', 'openvino', '--onnx', onnx_file,
                                      '--precision', 'fp32', '--ov-cache-dir',
                                      str(tmp_path / 'ov')])):
        demo.main([SAMKR_SYNTH, extra[0], '--input', str(tmp_path / 'img.png'), '--output-root',
                   str(tmp_path / name), '--save-predictions', *extra[1:]])
        res[name] = json.loads((tmp_path / name / 'results_img.json').read_text())
    ref, got = (r['instance_info'] for r in (res['pytorch'], res['openvino']))
    assert len(ref) == len(got) > 0
    for r, g in zip(ref, got):
        assert np.abs(np.subtract(g['keypoints'], r['keypoints'])).max() <= 0.5


def test_precision_auto_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(runtime, 'cpu_flags', lambda: {'avx2', 'avx512f'})
    assert runtime.resolve_precision('pytorch', 'auto', 'cpu') == 'fp32'
    monkeypatch.setattr(runtime, 'cpu_flags', lambda: {'avx512f', 'avx512_bf16'})
    assert runtime.resolve_precision('pytorch', 'auto', 'cpu') == 'bf16'
    assert runtime.resolve_precision('pytorch', 'auto', 'cuda:0') == 'fp32'
    assert runtime.resolve_precision('pytorch', 'fp32', 'cpu') == 'fp32'
    assert runtime.resolve_precision('onnxruntime', 'auto') == 'fp32'
    assert runtime.resolve_precision('openvino', 'auto') == 'auto'  # OpenVINO's own choice
    with pytest.raises(ValueError, match='ONNX Runtime.*no bf16'):
        runtime.resolve_precision('onnxruntime', 'bf16')


def test_missing_openvino_says_what_to_install(monkeypatch, tmp_path):
    from mmpose_attn.deployment import openvino as dov
    monkeypatch.setitem(sys.modules, 'openvino', None)  # import openvino -> ImportError
    with pytest.raises(ImportError, match=r'pip install -r requirements/optional.txt'):
        dov.require_openvino()


def test_backend_needs_an_onnx_file(tmp_path):
    from mmpose_attn.apis.inferencer import backend_device
    with pytest.raises(FileNotFoundError, match='--backend openvino needs --onnx FILE'):
        backend_device('openvino', None, str(tmp_path / 'missing.onnx'))
    (tmp_path / 'm.onnx').write_bytes(b'')
    with pytest.raises(ValueError, match='runs on the CPU'):
        backend_device('openvino', 'cuda:0', str(tmp_path / 'm.onnx'))
