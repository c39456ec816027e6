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

from mmpose_attn.deployment import export as dx  # noqa: E402
from mmpose_attn.deployment import onnxruntime_backend as ortb  # noqa: E402
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
    cmd = [
        sys.executable,
        str(REPO / 'tools/train.py'),
        str(OVERFIT), '--work-dir',
        str(work), '--cfg-options', f'train_dataloader.dataset.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}', 'randomness.seed=0',
        f'train_cfg.max_epochs={EPOCHS}', 'train_cfg.val_interval=1000',
        f'default_hooks.checkpoint.interval={EPOCHS}', f'param_scheduler.1.end={EPOCHS}',
        f'param_scheduler.1.T_max={EPOCHS}'
    ]
    env = dict(__import__('os').environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='2')
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ckpt = str(work / f'epoch_{EPOCHS}.pth')
    cfg = load_config(str(OVERFIT))
    cfg.test_dataloader.dataset.data_root = root
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_export_model(cfg, ckpt)
    onnx_file = str(work / 'esam.onnx')
    # with the checkpoint's hash: the demo may then be given the checkpoint beside the file
    dx.export_onnx(model, onnx_file, (128, 96), checkpoint=ckpt)
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
        model = dx.build_export_model(cfg, ckpt)
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
        model = dx.build_export_model(cfg, ckpt)
    model = runtime.use_backend(
        model, backend, onnx_file, precision, threads=2, cache_dir=str(tmp_path / 'ov'))
    expected = {'pytorch': runtime.TorchForward, 'onnxruntime': ortb.OnnxRuntimeForward}
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
        sample = PoseDataSample(
            metainfo=dict(
                flip_indices=flip,
                img_shape=hw,
                ori_shape=hw,
                input_size=(w, h),
                input_center=np.array([w / 2, h / 2], np.float32),
                input_scale=np.array([w, h], np.float32)))
        items.append(
            dict(
                inputs=torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen),
                data_samples=sample))
    return pseudo_collate(items)


@pytest.mark.parametrize('backend', ['onnxruntime', pytest.param('openvino', marks=needs_openvino)])
def test_samkr_fp32_backend_equals_pytorch(backend, tmp_path):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_export_model(load_config(SAMKR_SYNTH), 'none')
    model.test_cfg['flip_test'] = True
    onnx_file = str(tmp_path / 'samkr.onnx')
    dx.export_onnx(model, onnx_file, (64, 64))
    other = runtime.use_backend(
        copy.deepcopy(model), backend, onnx_file, 'fp32', threads=2, cache_dir=str(tmp_path / 'ov'))
    data = _samkr_batch()
    with torch.no_grad():
        ref = model.test_step(copy.deepcopy(data))
        got = other.test_step(copy.deepcopy(data))
    for r, g in zip(ref, got):
        rk, gk = r.pred_instances.keypoints, g.pred_instances.keypoints
        assert rk.shape[0] > 0 and rk.shape == gk.shape
        assert np.abs(gk - rk).max() <= 0.5
        np.testing.assert_allclose(
            g.pred_instances.keypoint_scores, r.pred_instances.keypoint_scores, atol=1e-3)


def _topdown_demo(trained_esam, out: Path, *extra):
    cfg, ckpt, _, root = trained_esam
    load_tool('topdown_demo_with_mmdet').main([
        '-', '-',
        str(OVERFIT), ckpt, '--input', f'{root}images', '--bbox-file',
        f'{root}detections/test_coco_det_AP_H_56.json', '--output-root',
        str(out), '--save-predictions', '--device', 'cpu', '--bbox-thr', '0.5', *extra
    ])
    res = {}
    for f in sorted(out.glob('results_*.json')):
        insts = json.loads(f.read_text())['instance_info']
        res[f.name] = np.array([i['keypoints'] for i in insts]).reshape(-1, 17, 2)
    return res


@pytest.mark.slow
def test_topdown_crops_batched_across_images_equal_per_image(trained_esam, tmp_path):
    per_image = _topdown_demo(trained_esam, tmp_path / 'b1', '--precision', 'fp32')
    batched = _topdown_demo(trained_esam, tmp_path / 'b16', '--precision', 'fp32', '--batch-size',
                            '16')
    assert sorted(per_image) == sorted(batched) and len(per_image) == 4
    assert sum(len(k) for k in per_image.values()) > 16  # more crops than one batch holds
    for name in per_image:
        np.testing.assert_allclose(batched[name], per_image[name], atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize('backend', ['onnxruntime', pytest.param('openvino', marks=needs_openvino)])
def test_topdown_demo_backend(trained_esam, backend, tmp_path):
    _, _, onnx_file, _ = trained_esam
    # flip test on: the runtime also runs the flipped batch
    flip = ['--cfg-options', 'model.test_cfg.flip_test=True']
    ref = _topdown_demo(trained_esam, tmp_path / 'ref', '--precision', 'fp32', '--batch-size', '8',
                        *flip)
    got = _topdown_demo(trained_esam, tmp_path / backend, '--backend', backend, '--onnx', onnx_file,
                        '--precision', 'fp32', '--batch-size', '8', '--ov-cache-dir',
                        str(tmp_path / 'ov'), *flip)
    assert sorted(got) == sorted(ref)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], atol=0.05)


@needs_openvino
def test_bottomup_demo_openvino_matches_pytorch(tmp_path):
    import cv2
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_export_model(load_config(SAMKR_SYNTH), 'none')
    ckpt = str(tmp_path / 'samkr.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    onnx_file = str(tmp_path / 'samkr.onnx')
    dx.export_onnx(model, onnx_file, (256, 256))  # the demo resizes a square image to 256x256
    cv2.imwrite(
        str(tmp_path / 'img.png'),
        np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
    demo = load_tool('bottomup_demo')
    res = {}
    for name, extra in (('pytorch', [ckpt, '--precision', 'fp32']), ('openvino', [
            'none', '--backend', 'openvino', '--onnx', onnx_file, '--precision', 'fp32',
            '--ov-cache-dir',
            str(tmp_path / 'ov')
    ])):
        demo.main([
            SAMKR_SYNTH, extra[0], '--input',
            str(tmp_path / 'img.png'), '--output-root',
            str(tmp_path / name), '--save-predictions', *extra[1:]
        ])
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
    from mmpose_attn.deployment import openvino_backend as dov
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


# ------------------------------------------------ an ONNX file is what the config says it is
ESAM_SYNTH = str(REPO / 'configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py')
BACKENDS = ['onnxruntime', pytest.param('openvino', marks=needs_openvino)]


def _quiet_build(config, ckpt='none', **kw):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return dx.build_export_model(load_config(config), ckpt, **kw)


@pytest.fixture(scope='module')
def esam_files(tmp_path_factory):
    """A synthetic ESAM: two checkpoints of different weights, the first exported with its hash
    (esam.onnx) and once without a checkpoint (random.onnx); one image with a COCO-style name and
    a detection file with one person box for it."""
    import cv2
    work = tmp_path_factory.mktemp('esam_files')
    torch.manual_seed(0)
    model = _quiet_build(ESAM_SYNTH)
    ckpt, other = str(work / 'epoch_15.pth'), str(work / 'epoch_5.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    torch.save(
        dict(
            state_dict={
                k: v + 0.01 if v.is_floating_point() else v
                for k, v in model.state_dict().items()
            },
            meta=dict()), other)
    dx.export_onnx(copy.deepcopy(model), str(work / 'esam.onnx'), (128, 96), checkpoint=ckpt)
    dx.export_onnx(copy.deepcopy(model), str(work / 'random.onnx'), (128, 96))
    (work / 'images').mkdir()
    cv2.imwrite(
        str(work / 'images/000000000001.jpg'),
        np.random.default_rng(0).integers(0, 256, (160, 120, 3), dtype=np.uint8))
    (work / 'det.json').write_text(
        json.dumps([dict(image_id=1, category_id=1, bbox=[10, 10, 60, 120], score=0.9)]))
    return work


def _topdown_main(work, ckpt, onnx_file, backend, out, *extra):
    return load_tool('topdown_demo_with_mmdet').main([
        '-', '-', ESAM_SYNTH, ckpt, '--input',
        str(work / 'images'), '--bbox-file',
        str(work / 'det.json'), '--output-root',
        str(out), '--save-predictions', '--backend', backend, '--onnx', onnx_file, '--ov-cache-dir',
        str(out) + '_ov', *extra
    ])


@pytest.mark.parametrize('backend', BACKENDS)
def test_checkpoint_beside_onnx_must_be_the_files(esam_files, backend, tmp_path):
    import logging

    from mmengine.logging import MMLogger
    work = esam_files
    onnx_file = str(work / 'esam.onnx')
    # another checkpoint: refused, naming both files, before anything is written
    with pytest.raises(
            ValueError,
            match=r'epoch_5.pth is not the checkpoint --onnx '
            r'.*esam.onnx was exported from \(epoch_15.pth'):
        _topdown_main(work, str(work / 'epoch_5.pth'), onnx_file, backend, tmp_path / 'a')
    assert not (tmp_path / 'a').exists()
    # a file exported without a checkpoint cannot be shown to hold it
    with pytest.raises(
            ValueError,
            match=r'random.onnx, but the ONNX file records no '
            r'checkpoint hash \(exported with random weights\)'):
        _topdown_main(work, str(work / 'epoch_15.pth'), str(work / 'random.onnx'), backend,
                      tmp_path / 'b')
    # the checkpoint it was exported from: runs, says so once, and is not loaded again
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        written = _topdown_main(work, str(work / 'epoch_15.pth'), onnx_file, backend,
                                tmp_path / 'c')
    finally:
        logger.removeHandler(handler)
    text = '\n'.join(lines)
    assert 'checkpoint' in text and 'loads checkpoint' not in text.lower()
    assert 'POSE_CHECKPOINT is "none"' not in text
    assert text.count('weights come from the ONNX file') == 1
    assert text.count('exported from checkpoint epoch_15.pth: the same bytes as '
                      'POSE_CHECKPOINT') == 1
    assert any(p.endswith('results_000000000001.json') for p in written)


@pytest.mark.parametrize('backend', BACKENDS)
def test_bottomup_checkpoint_beside_onnx_must_be_the_files(backend, tmp_path):
    from mmpose_attn.apis import AttnPoseInferencer
    torch.manual_seed(0)
    model = _quiet_build(SAMKR_SYNTH)
    ckpt, other = str(tmp_path / 'samkr.pth'), str(tmp_path / 'other.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), other)  # other bytes
    onnx_file = str(tmp_path / 'samkr.onnx')
    dx.export_onnx(model, onnx_file, (64, 64), checkpoint=ckpt)
    with pytest.raises(ValueError, match=r'other.pth is not the checkpoint --onnx .*samkr.onnx'):
        load_tool('bottomup_demo').main([
            SAMKR_SYNTH, other, '--input',
            str(REPO / 'tests'), '--output-root',
            str(tmp_path / 'out'), '--backend', backend, '--onnx', onnx_file
        ])
    with pytest.raises(ValueError, match=r'other.pth is not the checkpoint'):  # the API
        AttnPoseInferencer(SAMKR_SYNTH, other, backend=backend, onnx=onnx_file)
    inferencer = AttnPoseInferencer(
        SAMKR_SYNTH, ckpt, backend=backend, onnx=onnx_file, cache_dir=str(tmp_path / 'ov'))
    assert inferencer.model.backbone.onnx_file == onnx_file


def _rewrite_metadata(src, dst, **changes):
    """``src`` re-written as if exported from another config (metadata fields changed, the
    integrity record renewed)."""
    import onnx

    from mmpose_attn.deployment import metadata as md
    proto = onnx.load(src)
    meta = md.read_metadata(src)
    meta.pop('integrity')
    for path, value in changes.items():
        node = meta
        *parents, leaf = path.split('.')
        for p in parents:
            node = node[p]
        node[leaf] = value
    md.write_with_metadata(proto, dst, meta)
    return dst


class _TinyNet(torch.nn.Module):
    """A stand-in network of a given output layout (exported without metadata, as by an older
    version or another tool): average pooling by ``stride`` and 1x1 convolutions."""

    def __init__(self, channels, stride=4, nan=False):
        super().__init__()
        self.stride = stride
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(3, c, 1) for c in channels)
        if nan:
            with torch.no_grad():
                self.convs[0].weight[0, 0] = float('nan')

    def forward(self, x):
        x = torch.nn.functional.avg_pool2d(x, self.stride)
        return tuple(conv(x) for conv in self.convs)


def _export_tiny(path, channels, hw=(128, 96), stride=4, dynamic_hw=False, nan=False):
    names = ['heatmaps', 'displacements'][:len(channels)]
    axes = {0: 'batch', 2: 'h', 3: 'w'} if dynamic_hw else {0: 'batch'}
    torch.onnx.export(
        _TinyNet(channels, stride, nan), (torch.zeros(1, 3, *hw), ),
        str(path),
        input_names=['input'],
        output_names=names,
        dynamic_axes={n: axes
                      for n in ['input'] + names},
        opset_version=17,
        dynamo=False)
    return str(path)


@pytest.mark.parametrize('backend', BACKENDS)
def test_onnx_file_of_another_config_is_refused(esam_files, backend, tmp_path):
    from mmpose_attn.deployment.metadata import read_metadata
    work = esam_files
    src = str(work / 'esam.onnx')
    crowdpose = read_metadata(src)['dataset']['keypoint_names'][:14]

    def use(path, config=ESAM_SYNTH):
        return runtime.use_backend(
            _quiet_build(config), backend, path, 'fp32', cache_dir=str(tmp_path / 'ov'))

    cases = [  # (file, the message)
        (_rewrite_metadata(src, str(tmp_path / 'crowdpose.onnx'),
                           **{'dataset.keypoint_names': crowdpose}),
         r'crowdpose.onnx: the number of keypoints is 14 in the file but 17 in '
         r'.*td-hm_esam.*Export this config again'),
        (_rewrite_metadata(src, str(tmp_path / 'small.onnx'), **{'codec.heatmap_size': [12, 16]}),
         r'small.onnx: codec heatmap_size \(w, h\) is \[12, 16\] in the file but \[24, 32\]'),
        (_rewrite_metadata(src, str(tmp_path / 'bu.onnx'),
                           kind='bottomup'), r'bu.onnx: kind is bottomup in the file but topdown'),
        # no metadata: the graph's declared output shapes
        (_export_tiny(tmp_path / 'k14.onnx', [14]),
         r'k14.onnx: output heatmaps channels \(the number of keypoints\) is 14 in the file '
         r'but 17'),
        (_export_tiny(tmp_path / 'hm16.onnx', [17],
                      stride=8), r'hm16.onnx: output heatmaps height .* is 16 in the file but 32'),
        # top-down crops always have the codec input size: a file of another is refused at once
        (_export_tiny(tmp_path / 'in64.onnx', [17], hw=(64, 48), stride=2),
         r'in64.onnx: the input size \(h, w\) is \(64, 48\) in the file but \(128, 96\)'),
        # no metadata, sizes left open in the graph: one probe run
        (_export_tiny(tmp_path / 'dyn.onnx', [17], stride=8, dynamic_hw=True),
         r'dyn.onnx: output heatmaps height .* is 16 in the file but 32'),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            use(path)
    # the other kind: a bottom-up file whose channels are not the config's keypoints
    with pytest.raises(
            ValueError,
            match=r'bu14.onnx: output heatmaps channels \(the number of '
            r'keypoints \+ 1\) is 15 in the file but 18'):
        use(_export_tiny(tmp_path / 'bu14.onnx', [15, 28], hw=(64, 64)), SAMKR_SYNTH)
    # bottom-up, sizes left open: probed at a small input (heatmaps at a quarter of it)
    with pytest.raises(
            ValueError,
            match=r'budyn.onnx: output heatmaps height \(at input 64x64\) '
            r'is 8 in the file but 16'):
        use(
            _export_tiny(tmp_path / 'budyn.onnx', [18, 34], hw=(64, 64), stride=8, dynamic_hw=True),
            SAMKR_SYNTH)
    # the file of this config runs
    model = use(src)
    assert model.backbone.metadata['source']['checkpoint'] == 'epoch_15.pth'


@pytest.mark.parametrize('backend', BACKENDS)
def test_damaged_or_nan_onnx_file_is_refused(esam_files, backend, tmp_path):
    from mmpose_attn.deployment.base import NonFiniteOutputError
    data = bytearray((esam_files / 'esam.onnx').read_bytes())
    data[len(data) // 2] ^= 0x5A  # one byte inside the weights
    bad = tmp_path / 'garbled.onnx'
    bad.write_bytes(bytes(data))
    with pytest.raises(
            ValueError,
            match=r'garbled.onnx is damaged: its graph does not match '
            r'the sha256 recorded at export'):
        runtime.use_backend(
            _quiet_build(ESAM_SYNTH), backend, str(bad), 'fp32', cache_dir=str(tmp_path / 'ov'))
    # a garbled metadata entry (same length, so protobuf still parses)
    data = (esam_files / 'esam.onnx').read_bytes()
    assert data.count(b'"format": 1') == 1
    (tmp_path / 'badmeta.onnx').write_bytes(data.replace(b'"format": 1', b'"format": X'))
    with pytest.raises(
            ValueError,
            match=r'badmeta.onnx is damaged: its mmpose_attn.deploy '
            r'metadata is not valid JSON'):
        runtime.use_backend(
            _quiet_build(ESAM_SYNTH),
            backend,
            str(tmp_path / 'badmeta.onnx'),
            'fp32',
            cache_dir=str(tmp_path / 'ov'))
    (tmp_path / 'x.onnx').write_bytes(b'not a model' * 10)
    with pytest.raises(ValueError, match=r'x.onnx cannot be read as an ONNX model \(DecodeError'):
        runtime.use_backend(
            _quiet_build(ESAM_SYNTH),
            backend,
            str(tmp_path / 'x.onnx'),
            'fp32',
            cache_dir=str(tmp_path / 'ov'))
    # a file without metadata whose weights hold a NaN: its outputs are refused
    nan_file = _export_tiny(tmp_path / 'nan.onnx', [17], nan=True)
    model = runtime.use_backend(
        _quiet_build(ESAM_SYNTH), backend, nan_file, 'fp32', cache_dir=str(tmp_path / 'ov'))
    with pytest.raises(
            NonFiniteOutputError,
            match=r'nan.onnx: network output heatmaps holds '
            r'\d+ non-finite values'):
        with torch.no_grad():
            model.backbone(torch.zeros(1, 3, 128, 96))


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_nan_checkpoint_is_refused_and_nothing_is_written(esam_files, precision, tmp_path):
    from mmpose_attn.deployment.base import NonFiniteOutputError
    work = esam_files
    state = torch.load(work / 'epoch_15.pth', weights_only=False)['state_dict']
    key = next(k for k in state if k.endswith('final_layer.weight'))
    state[key][0] = float('nan')
    ckpt = str(tmp_path / 'nan.pth')
    torch.save(dict(state_dict=state, meta=dict()), ckpt)
    out = tmp_path / 'out'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # bf16 on a CPU without bf16 instructions warns
        with pytest.raises(NonFiniteOutputError, match=r'POSE_CHECKPOINT .*nan.pth: .*non-finite'):
            load_tool('topdown_demo_with_mmdet').main([
                '-', '-', ESAM_SYNTH, ckpt, '--input',
                str(work / 'images'), '--bbox-file',
                str(work / 'det.json'), '--output-root',
                str(out), '--save-predictions', '--precision', precision
            ])
    assert not list(out.rglob('results_*.json'))  # no half-written (0-byte) result


def _mixed_folder(folder):
    import cv2
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / 'a_square.png'), rng.integers(0, 256, (64, 64, 3), np.uint8))
    cv2.imwrite(str(folder / 'b_wide.png'), rng.integers(0, 256, (60, 100, 3), np.uint8))
    return folder


@pytest.mark.parametrize('backend', BACKENDS)
def test_fixed_size_bottomup_file_checks_every_image_first(backend, tmp_path):
    torch.manual_seed(0)
    model = _quiet_build(SAMKR_SYNTH)
    onnx_file = str(tmp_path / 'samkr64.onnx')
    dx.export_onnx(copy.deepcopy(model), onnx_file, (64, 64))
    folder = _mixed_folder(tmp_path / 'mixed')
    out = tmp_path / 'out'
    small = ['--cfg-options', 'test_dataloader.dataset.pipeline.1.input_size=(64,64)']
    with pytest.raises(
            ValueError,
            match=r'samkr64.onnx takes only inputs of 64x64 .*1 of 2 '
            r'input image\(s\) are resized to other sizes .*b_wide.png \(100x60 W x H\) '
            r'to 64x128; nothing was written\. Export it with any-shape support: '
            r'.*--dynamic-hw'):
        load_tool('bottomup_demo').main([
            SAMKR_SYNTH, 'none', '--input',
            str(folder), '--output-root',
            str(out), '--save-predictions', '--backend', backend, '--onnx', onnx_file,
            '--ov-cache-dir',
            str(tmp_path / 'ov'), *small
        ])
    assert not out.exists() or not list(out.rglob('*.*'))
    # a multi-scale test cannot run a fixed-size file: refused when it is opened
    model.test_cfg['multiscale_test'] = True
    with pytest.raises(
            ValueError,
            match=r'samkr64.onnx takes only inputs of 64x64 .*tests at '
            r'several scales.*--dynamic-hw'):
        runtime.use_backend(model, backend, onnx_file, 'fp32', cache_dir=str(tmp_path / 'ov'))


@needs_openvino
def test_unwritable_openvino_cache_runs_without_it(esam_files, tmp_path):
    from mmpose_attn.deployment.openvino_backend import CacheDirWarning
    (tmp_path / 'a_file').write_text('')
    cache = str(tmp_path / 'a_file' / 'cache')  # cannot be a folder, even for root
    with pytest.warns(
            CacheDirWarning,
            match=r'OpenVINO cache folder .*a_file/cache cannot be '
            r'written .*running without the compiled-model cache') as seen:
        model = runtime.use_backend(
            _quiet_build(ESAM_SYNTH),
            'openvino',
            str(esam_files / 'esam.onnx'),
            'fp32',
            cache_dir=cache)
    assert len([w for w in seen if w.category is CacheDirWarning]) == 1
    with torch.no_grad():
        heatmaps = model.backbone(torch.zeros(1, 3, 128, 96))[0]
    assert heatmaps.shape == (1, 17, 32, 24)


def test_pytorch_bf16_without_bf16_instructions_warns(monkeypatch):
    monkeypatch.setattr(runtime, 'cpu_flags', lambda: {'avx2', 'avx512f', 'avx512_vnni'})
    with pytest.warns(
            runtime.EmulatedBF16Warning,
            match=r'--precision bf16: this CPU has no bf16 instructions \(none of '
            r'avx512_bf16, amx_bf16, bf16 .*it has avx2 avx512f avx512_vnni\), so '
            r'PyTorch emulates bf16'):
        model = runtime.use_backend(_quiet_build(ESAM_SYNTH), 'pytorch', precision='bf16')
    assert isinstance(model.backbone, runtime.TorchForward)  # it still runs, in bf16
    monkeypatch.setattr(runtime, 'cpu_flags', lambda: {'avx512f', 'avx512_bf16'})
    with warnings.catch_warnings():
        warnings.simplefilter('error', runtime.EmulatedBF16Warning)
        runtime.use_backend(_quiet_build(ESAM_SYNTH), 'pytorch', precision='bf16')


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('threads', [-1, 0, 2.5])
def test_threads_out_of_range_is_refused(esam_files, backend, threads, tmp_path, capsys):
    with pytest.raises(
            ValueError, match=rf'--threads {threads!r}: give a whole number of '
            r'threads, 1 or more'):
        runtime.use_backend(
            _quiet_build(ESAM_SYNTH),
            backend,
            str(esam_files / 'esam.onnx'),
            'fp32',
            threads=threads,
            cache_dir=str(tmp_path / 'ov'))
    with pytest.raises(SystemExit):
        load_tool('bottomup_demo').parse_args(
            [SAMKR_SYNTH, 'none', '--backend', backend, '--threads',
             str(threads)])
    assert (f"argument --threads/--ort-threads: --threads '{threads}': give a whole number of "
            'threads, 1 or more') in capsys.readouterr().err
