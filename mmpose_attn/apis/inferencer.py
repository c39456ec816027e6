"""mmpose's 2D pose inferencer with what the demos add to it.

:class:`AttnPoseInferencer` is a :class:`mmpose.apis.Pose2DInferencer`: mmpose's input listing,
video reading and writing, drawing (``visualize``) and kwargs dispatch are used as they are. It
adds batched bottom-up prediction (when the head says it can, ``supports_batch_predict``),
person boxes from a COCO detection-result file, unreadable images skipped and reported, the
checkpoint refused when it does not fit the model, and the demos' output files
(``results_<name>.json`` with ``meta_info``/``instance_info``, as mmpose's ``demo/`` scripts).
"""
import contextlib
import logging
import mimetypes
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import json_tricks
import mmcv
import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmpose.apis.inferencers import Pose2DInferencer
from mmpose.registry import INFERENCERS
from mmpose.structures import PoseDataSample, merge_data_samples, split_instances

from ..deployment.base import (NonFiniteOutputError, checkpoint_of_file, file_metadata,
                               fixed_input_hw, fixed_size_message)
from ..deployment.runtime import resolve_precision, use_backend
from ..engine.atomic_io import atomic_write
from ..utils import build_model
from .detections import CocoDetections, NoDetectionsWarning, select_person_boxes
from .models import prepare_det_config, prepare_pose_config, require_dataset_meta, resolve_device


class SkippedInputsWarning(UserWarning):
    """Raised at the end of a run that skipped unreadable inputs."""


# ------------------------------------------------------------------------------------- inputs
def input_kind(path: str) -> str:
    """``'folder'``, ``'image'`` or ``'video'``; a clear error for anything else."""
    if not osp.exists(path):
        raise FileNotFoundError(f'--input {path!r} does not exist. Pass an image, a video or a '
                                'folder of images.')
    if osp.isdir(path):
        return 'folder'
    mime = (mimetypes.guess_type(path)[0] or '').split('/')[0]
    if mime not in ('image', 'video'):
        raise ValueError(f'--input {path!r} is neither an image nor a video (by its extension); '
                         'pass an image (.jpg, .png, ...), a video (.mp4, .avi, ...) or a folder.')
    return mime


def list_images(folder: str) -> List[str]:
    """Image files (by extension) in ``folder`` and its subfolders (hidden ones skipped), sorted
    by their path relative to ``folder``.

    Folder links are followed, but each real folder is listed once (by its device and inode): a
    link back up the tree (``sub/up -> ..``) or a second link to a listed folder is skipped, and
    the skipped links are named in one warning (:class:`SkippedInputsWarning`).
    """
    images, skipped = [], []
    top = os.stat(folder)
    seen = {(top.st_dev, top.st_ino): folder}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        kept = []
        # real folders before links to them: the images keep their real paths
        for d in sorted(dirnames, key=lambda d: (osp.islink(osp.join(dirpath, d)), d)):
            if d.startswith('.'):
                continue
            path = osp.join(dirpath, d)
            try:
                st = os.stat(path)
            except OSError:  # a dangling link
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                skipped.append((osp.relpath(path, folder), osp.relpath(seen[key], folder)))
                continue
            seen[key] = path
            kept.append(d)
        dirnames[:] = kept
        images += [
            osp.join(dirpath, name) for name in filenames if
            (mimetypes.guess_type(name)[0] or '').startswith('image/') and not name.startswith('.')
        ]
    if skipped:
        msg = (f'--input folder {folder!r}: skipped {len(skipped)} folder link(s) to a folder '
               'already listed (each folder is read once; a link back up the tree would repeat '
               'it without end): ' + ', '.join(f'{link} (= {real})'
                                               for link, real in skipped[:10]) +
               (' ...' if len(skipped) > 10 else ''))
        print_log(msg, logger='current', level=logging.WARNING)
        warnings.warn(msg, SkippedInputsWarning, stacklevel=2)
    if not images:
        raise ValueError(f'--input folder {folder!r} contains no image files (.jpg, .png, ...), '
                         'neither directly nor in its subfolders.')
    return sorted(images, key=lambda p: osp.relpath(p, folder).split(os.sep))


def check_output_root(inputs: Sequence[str], outputs: Sequence[str], output_root: str) -> None:
    """Refuse, before anything is written, output files that are input files (the drawings
    would overwrite the images: ``--output-root`` equal to the input folder, or the input
    inside the output folder where a drawing lands on it).

    Args:
        inputs: The input files.
        outputs: The drawing path of each input (same order).
        output_root: The output folder, named in the message.
    """
    real_inputs = {osp.realpath(p): p for p in inputs}
    clashes = [(real_inputs[osp.realpath(o)], o) for o in outputs if osp.realpath(o) in real_inputs]
    if clashes:
        src, dst = clashes[0]
        raise ValueError(
            f'--output-root {output_root!r} would overwrite {len(clashes)} input file(s) with '
            f'the drawings (e.g. {src!r} would be drawn to {dst!r}, the same file). Pass an '
            'output folder that is neither the input folder nor one whose drawings land on the '
            'inputs, e.g. --output-root vis_results.')


def read_image(path: str) -> np.ndarray:
    """Read an image as (H, W, 3) BGR; a clear error when it cannot be decoded."""
    try:
        img = mmcv.imread(path)
    except Exception as e:  # OpenCV raises on an empty buffer (a 0-byte file)
        raise ValueError(f'cannot read image {path!r}: {e.__class__.__name__} from OpenCV '
                         f'({osp.getsize(path)} bytes). Remove it from the input or replace '
                         'it.') from e
    if img is None:
        raise ValueError(f'cannot read image {path!r}: the file is not a decodable image '
                         '(corrupt, truncated or unsupported format). Remove it from the input '
                         'or convert it to JPEG/PNG.')
    return img


def open_video(path: str) -> mmcv.VideoReader:
    """Open a video with mmcv; a clear error when OpenCV cannot decode it."""
    reader = mmcv.VideoReader(path)
    if not reader.opened or reader.width == 0 or reader.frame_cnt == 0:
        raise ValueError(f'cannot open video {path!r}: OpenCV cannot decode it (corrupt file '
                         'or unsupported codec). Re-encode it, e.g. `ffmpeg -i IN -c:v libx264 '
                         'OUT.mp4`, or pass its frames as a folder of images.')
    return reader


def result_names(paths: Sequence[str], root: Optional[str] = None) -> Dict[str, str]:
    """``results_<stem>.json`` per input, under the input's folder relative to ``root`` (a
    folder input: ``root/vid1/000000.jpg`` -> ``vid1/results_000000.json``); inputs of one
    folder whose stems collide (``x.jpg``, ``x.png``) keep their extension instead
    (``results_x.jpg.json``) so no file overwrites another."""

    def folder(p):
        return osp.dirname(osp.relpath(p, root)) if root is not None else ''

    stems: Dict[Tuple[str, str], int] = {}
    for p in paths:
        key = (folder(p), osp.splitext(osp.basename(p))[0])
        stems[key] = stems.get(key, 0) + 1
    names, taken = {}, set()
    for p in paths:
        base, stem = osp.basename(p), osp.splitext(osp.basename(p))[0]
        name = f'results_{stem}.json' if stems[(folder(p), stem)] == 1 else \
            f'results_{base}.json'
        name = osp.join(folder(p), name)
        n = 1
        while name in taken:  # a name like x.jpg.png would meet x.jpg's
            n += 1
            name = osp.join(folder(p), f'results_{base}.{n}.json')
        taken.add(name)
        names[p] = name
    return names


def save_predictions(path: str, dataset_meta: dict, instance_info: list) -> None:
    """Write predictions in the format of mmpose's demos (json_tricks, numpy-aware), whole or
    not at all: the text is made first, then written to a temporary file and renamed onto
    ``path`` (:func:`~mmpose_attn.engine.atomic_io.atomic_write`); NaN/inf (which JSON cannot
    hold) are refused naming the file."""
    try:
        text = json_tricks.dumps(
            dict(meta_info=dataset_meta, instance_info=instance_info), indent='\t', allow_nan=False)
    except ValueError as e:
        raise NonFiniteOutputError(
            f'{path} not written: the predictions hold non-finite values (NaN/inf), which JSON '
            f'cannot hold ({e}); the weights that made them are broken') from e
    atomic_write(text, path)


def check_finite_predictions(source: str, sample: PoseDataSample) -> None:
    """Refuse a prediction whose scores are NaN/inf, naming where the weights came from (a NaN
    checkpoint, a garbled ONNX file)."""
    inst = sample.get('pred_instances', None)
    if inst is None:
        return
    # the scores: a NaN heatmap or score map makes them NaN (the keypoints of an untrained
    # RTMO are NaN with finite scores, as in mmpose; the json writer refuses those)
    for key in ('keypoint_scores', 'bbox_scores'):
        if key in inst:
            value = inst.get(key)
            arr = np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value)
            bad = ~np.isfinite(arr) if arr.dtype.kind == 'f' else np.zeros(arr.shape, bool)
            if bad.any():
                raise NonFiniteOutputError(
                    f'{source}: the predicted {key} of {sample.metainfo.get("img_path")} hold '
                    f'{int(bad.sum())} non-finite values (NaN/inf) of '
                    f'{arr.size}: the weights are broken (a garbled or truncated file, or a '
                    'diverged training). Use another checkpoint, or export the file again from '
                    'a good one.')


def instance_scores(instances) -> np.ndarray:
    """(N,) score per predicted person: ``bbox_scores``, else the mean of ``keypoint_scores``
    (DEKR/SAMKR, whose predictions carry no box score)."""
    scores = instances.bbox_scores if 'bbox_scores' in instances else \
        instances.keypoint_scores.mean(axis=-1)
    return np.asarray(scores.cpu() if isinstance(scores, torch.Tensor) else scores).reshape(-1)


def filter_instances(sample: PoseDataSample,
                     bbox_thr: float = -1,
                     pose_based_nms: bool = False) -> PoseDataSample:
    """Keep the people scoring above ``bbox_thr`` (when > 0), then apply mmpose's pose-based
    NMS (``nearby_joints_nms`` with a third of the keypoints) when asked; in place. The kept
    people stay in their order."""
    from mmpose.evaluation.functional import nearby_joints_nms
    if 'pred_instances' not in sample or len(sample.pred_instances) == 0:
        return sample
    if bbox_thr > 0:
        sample.pred_instances = sample.pred_instances[instance_scores(sample.pred_instances) >
                                                      bbox_thr]
    if pose_based_nms and len(sample.pred_instances) > 0:
        kpts, scores = sample.pred_instances.keypoints, instance_scores(sample.pred_instances)
        # a pose of zero extent is near nothing, not even itself (nearby_joints_nms would
        # fail on it): such poses are kept as they are
        extent = np.asarray(kpts).max(axis=1) - np.asarray(kpts).min(axis=1)
        sized = np.flatnonzero(np.linalg.norm(extent, axis=-1) > 0)
        keep = np.asarray(
            nearby_joints_nms([dict(keypoints=kpts[i], score=scores[i]) for i in sized],
                              num_nearby_joints_thr=kpts.shape[-2] // 3),
            dtype=int)
        keep = np.sort(np.concatenate([sized[keep], np.setdiff1d(np.arange(len(kpts)), sized)]))
        sample.pred_instances = sample.pred_instances[keep]
    return sample


def backend_device(backend: str,
                   device: Optional[str],
                   onnx: Optional[str] = None,
                   precision: str = 'auto') -> str:
    """The device of the model for ``backend``; checks ``backend``, ``precision`` and ``onnx``
    before anything is built. ONNX Runtime and OpenVINO run on the CPU."""
    resolve_precision(backend, precision)
    if backend == 'pytorch':
        return resolve_device(device)
    if not onnx or not osp.isfile(onnx):
        raise FileNotFoundError(f'--backend {backend} needs --onnx FILE (an existing file written '
                                f'by tools/deployment/export_onnx.py), got --onnx {onnx!r}')
    if device is not None and not str(device).startswith('cpu'):
        raise ValueError(f'--backend {backend} runs on the CPU; got --device {device} (drop it '
                         'or pass --device cpu)')
    return 'cpu'


@contextlib.contextmanager
def _dropped_log_lines(prefix: str):
    """Drop the current logger's lines starting with ``prefix`` for the duration."""
    from mmengine.logging import MMLogger

    class Drop(logging.Filter):

        def filter(self, record):
            return not record.getMessage().startswith(prefix)

    logger, drop = MMLogger.get_current_instance(), Drop()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


# --------------------------------------------------------------------------------- inferencer
@INFERENCERS.register_module()
class AttnPoseInferencer(Pose2DInferencer):
    """:class:`~mmpose.apis.Pose2DInferencer` with batched bottom-up prediction, boxes from a
    COCO detection file and unreadable inputs skipped.

    Args:
        model (str | Config): Pose config (file, ``mmpose::`` path or :class:`Config`).
        weights (str, optional): Pose checkpoint, or ``'none'`` (random weights, warned).
        device (str, optional): ``None`` picks ``cuda:0`` when available, else ``cpu``.
        det_model (str | Config, optional): mmdet config of the person detector (top-down
            without ``detections``).
        det_weights (str, optional): Detector checkpoint, or ``'none'``.
        det_cat_ids (int): Person class index of the detector. Defaults to 0.
        detections (CocoDetections, optional): Person boxes from ``--bbox-file`` instead of a
            detector; used as they are (no NMS), scores above ``bbox_thr``.
        cfg_options (dict, optional): Overrides merged into the pose config.
        output_heatmaps (bool): Keep heatmaps in the predictions (to draw them).
        expect (str, optional): ``'topdown'`` or ``'bottomup'``; the other kind is refused.
        weights_from (str, optional): Where the network's weights come from when ``weights``
            is ``'none'`` on purpose (an ONNX file): logged instead of the random-weights
            warning.
        backend (str): ``'pytorch'``, ``'onnxruntime'`` or ``'openvino'`` runs the network;
            preprocessing, flip/multi-scale test and decoding stay mmpose's (see
            :mod:`mmpose_attn.deployment.runtime`). Defaults to ``'pytorch'``.
        onnx (str, optional): The ONNX file of the model (``tools/deployment/export_onnx.py``),
            for ONNX Runtime and OpenVINO.
        precision (str): ``'auto'`` (each backend's fastest accurate mode on this CPU: bf16
            where it has bf16 instructions), ``'fp32'`` or ``'bf16'``. Defaults to ``'auto'``.
        threads (int, optional): ONNX Runtime / OpenVINO threads (default: theirs).
        cache_dir (str, optional): OpenVINO's compiled-model cache directory.
    """

    preprocess_kwargs: set = Pose2DInferencer.preprocess_kwargs | {'strict'}
    visualize_kwargs: set = Pose2DInferencer.visualize_kwargs | {'show_kpt_idx'}

    def __init__(self,
                 model: Union[str, Config],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 det_model: Optional[Union[str, Config]] = None,
                 det_weights: Optional[str] = None,
                 det_cat_ids: int = 0,
                 detections: Optional[CocoDetections] = None,
                 cfg_options: Optional[dict] = None,
                 output_heatmaps: bool = False,
                 expect: Optional[str] = None,
                 weights_from: Optional[str] = None,
                 backend: str = 'pytorch',
                 onnx: Optional[str] = None,
                 precision: str = 'auto',
                 threads: Optional[int] = None,
                 cache_dir: Optional[str] = None) -> None:
        device = backend_device(backend, device, onnx, precision)
        given = weights
        if backend != 'pytorch':
            weights, weights_from = self._weights_of_file(onnx, weights, weights_from)
        if weights_from and weights == 'none' and str(given).lower() != 'none':
            # a checkpoint was given (and matches the file): say where the weights come from
            # once, without prepare_pose_config's 'POSE_CHECKPOINT is "none"' line
            print_log(
                f'the network\'s weights come from {weights_from}.',
                logger='current',
                level=logging.INFO)
            with _dropped_log_lines('POSE_CHECKPOINT is "none"'):
                cfg, weights = prepare_pose_config(model, weights, cfg_options, expect,
                                                   output_heatmaps, weights_from)
        else:
            cfg, weights = prepare_pose_config(model, weights, cfg_options, expect, output_heatmaps,
                                               weights_from)
        self.weights_source = (
            f'--onnx {onnx}' if backend != 'pytorch' else
            f'POSE_CHECKPOINT {given}' if weights else 'the randomly initialised model')
        self.detections = detections
        self.skipped: List[Tuple[str, str]] = []
        self.no_detections: List[str] = []
        self.written: List[str] = []
        self._claimed = set()
        super().__init__(
            cfg,
            weights,
            device=device,
            scope=cfg.get('default_scope', 'mmpose'),
            det_model=det_model,
            det_weights=det_weights,
            det_cat_ids=det_cat_ids)
        self.backend, self.precision = backend, precision
        use_backend(
            self.model, backend, onnx, precision, threads, cache_dir, source=self.weights_source)

    @staticmethod
    def _weights_of_file(onnx: str, weights: Optional[str],
                         weights_from: Optional[str]) -> Tuple[str, str]:
        """With an ONNX backend the weights are the file's: a checkpoint given beside it must be
        the one it was exported from (:func:`~mmpose_attn.deployment.runtime.
        checkpoint_of_file`) and is then not loaded. Returns the checkpoint to load (``'none'``)
        and the sentence saying where the weights come from."""
        if weights is not None and str(weights).lower() != 'none' and \
                '://' not in str(weights) and not osp.isfile(osp.expanduser(str(weights))):
            return weights, weights_from  # the missing checkpoint is reported as before
        said = checkpoint_of_file(onnx, weights, file_metadata(onnx))
        return 'none', weights_from or said

    def _dispatch_kwargs(self, **kwargs):
        """mmpose's dispatch, and the ``bbox_thr`` given to ``preprocess`` for ``forward`` too:
        mmpose's ``__call__`` does that only when ``forward_kwargs`` lists ``bbox_thr``, which
        its ``Pose2DInferencer`` does not (a key may be listed once), so it never filters."""
        pre, fwd, vis, post = super()._dispatch_kwargs(**kwargs)
        fwd['bbox_thr'] = pre.get('bbox_thr', -1)
        return pre, fwd, vis, post

    def __call__(self,
                 inputs,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 out_dir: Optional[str] = None,
                 **kwargs):
        """mmpose's call; the drawing folder is kept so that the input listing can refuse
        drawings that would overwrite the inputs (:func:`check_output_root`)."""
        self._vis_out_dir = kwargs.get('vis_out_dir') or (f'{out_dir}/visualizations'
                                                          if out_dir else '')
        self._pred_out_dir = kwargs.get('pred_out_dir') or (f'{out_dir}/predictions'
                                                            if out_dir else '')
        return super().__call__(inputs, return_datasamples, batch_size, out_dir, **kwargs)

    # ------------------------------------------------------------------------ building
    def _init_model(self, cfg: ConfigDict, weights: Optional[str], device: str = 'cpu'):
        """The package's one builder (:func:`mmpose_attn.utils.build_model`): a checkpoint whose
        keys or shapes do not fit the model is refused (unless the config sets
        ``allow_partial_load = True``); ``dataset_meta`` from the checkpoint, else the config's
        dataset (through dataset wrappers), else a clear error."""
        return require_dataset_meta(build_model(cfg, weights, device=device), cfg)

    def _init_detector(self, det_model=None, det_weights=None, det_cat_ids=0, device=None):
        """mmdet's ``DetInferencer`` for the person boxes, unless they come from a file."""
        self.det_cat_ids = tuple(det_cat_ids) if isinstance(det_cat_ids,
                                                            (tuple, list)) else (det_cat_ids, )
        self.detector = None
        if self.detections is not None:
            return
        if det_model is None:
            raise ValueError('top-down prediction needs person boxes: pass det_model (an mmdet '
                             'detector config; DET_CONFIG of tools/topdown_demo_with_mmdet.py) '
                             'or detections (a CocoDetections of a detection-result file; '
                             '--bbox-file).')
        from mmdet.apis import DetInferencer
        det_cfg, det_weights = prepare_det_config(det_model, det_weights)
        self.detector = DetInferencer(
            det_cfg, det_weights, device=device, scope='mmdet', show_progress=False)

    # --------------------------------------------------------------------------- inputs
    def _inputs_to_list(self, inputs):
        """mmpose's listing, with clear errors for a missing or unreadable input, a
        folder listed without choking on files of unknown type, and the output names."""
        self._video_input = False
        self._result_names: Dict[str, str] = {}
        self._vis_names: Dict[str, str] = {}
        self._pending_vis: List[str] = []
        self._claimed = set()  # the output files of this call
        self._image_ids: Dict[str, int] = {}
        if not isinstance(inputs, str):
            return super()._inputs_to_list(inputs)
        kind = input_kind(inputs)
        if kind == 'video':
            open_video(inputs)
            listed = super()._inputs_to_list(inputs)
            self.video_info['result_name'] = result_names([inputs])[inputs]
            self.video_info['name'] = osp.splitext(osp.basename(inputs))[0] + '.mp4'
            self._check_outputs([inputs], [self.video_info['name']])
            return listed
        paths = ([inputs] if kind == 'image' else self._without_outputs(
            inputs, list_images(inputs)))
        root = inputs if kind == 'folder' else None
        self._result_names = result_names(paths, root)
        # drawings keep the path relative to a folder input, as the results do
        self._vis_names = {p: osp.relpath(p, root) if root else osp.basename(p) for p in paths}
        self._check_outputs(paths, [self._vis_names[p] for p in paths])
        if self.cfg.data_mode == 'topdown' and self.detections is not None:
            self._image_ids = self.detections.match(paths)
        return paths

    def _without_outputs(self, folder: str, paths: List[str]) -> List[str]:
        """The images of an input folder less those under the output folder inside it: the
        drawings of an earlier run are not inputs (they would be predicted and drawn again)."""
        out = [getattr(self, '_vis_out_dir', ''), getattr(self, '_pred_out_dir', '')]
        top = osp.realpath(folder) + os.sep
        out = [osp.realpath(d) for d in out if d and not osp.splitext(d)[1]]
        out = [d for d in out if d.startswith(top)]  # strictly inside the input folder
        inside = [p for p in paths if any(osp.realpath(p).startswith(d + os.sep) for d in out)]
        if inside:
            msg = (f'--input folder {folder!r}: left out {len(inside)} image(s) under the output '
                   f'folder inside it ({inside[0]}, ...): drawings of an earlier run are not '
                   'inputs.')
            print_log(msg, logger='current', level=logging.WARNING)
            warnings.warn(msg, SkippedInputsWarning, stacklevel=2)
            paths = [p for p in paths if p not in inside]
            if not paths:
                raise ValueError(f'--input folder {folder!r} has no image files outside the '
                                 'output folder inside it; pass the folder of the input images.')
        return paths

    def _check_outputs(self, paths: Sequence[str], vis_names: Sequence[str]) -> None:
        vis_dir = getattr(self, '_vis_out_dir', '')
        if vis_dir and not osp.splitext(vis_dir)[1]:  # a folder (a file name: mmpose's rule)
            check_output_root(paths, [osp.join(vis_dir, n) for n in vis_names], vis_dir)

    def preprocess(self,
                   inputs,
                   batch_size: int = 1,
                   bboxes=None,
                   bbox_thr: float = 0.3,
                   nms_thr: float = 0.3,
                   strict: bool = False,
                   **kwargs):
        """Read, box and pipeline the inputs; yield ``((data, metas), images)`` per batch.

        Bottom-up inputs go ``batch_size`` at a time when the head supports batched
        prediction. Top-down crops are batched across images: whole images are added until the
        batch holds at least ``batch_size`` crops (an image's boxes are never split; an image
        with more boxes runs alone, as with batch size 1). An unreadable image is skipped with a
        line naming it (``strict``: the error is raised).
        """
        batch_size = self._effective_batch_size(batch_size)
        self._set_bottomup_thresholds(bbox_thr, nms_thr)
        if isinstance(inputs, (list, tuple)):
            self._check_fixed_network_size(inputs)
        batch, imgs = [], []
        crops, crop_metas = [], []  # top-down: the crops and (image info, number of crops)
        for i, item in enumerate(inputs):
            if isinstance(item, str):
                try:
                    img = read_image(item)
                except ValueError as e:
                    if strict:
                        raise
                    self.skipped.append((item, str(e)))
                    print_log(f'skipping {e}', logger='current', level=logging.WARNING)
                    continue
                path = item
            else:
                img = item
                path = (self.video_info['name'] if self._video_input else f'{i}.jpg'.rjust(10, '0'))
            info = dict(img=img, img_path=path, ori_shape=img.shape[:2])
            info.update(self.model.dataset_meta)
            if self.cfg.data_mode == 'topdown':
                boxes = self.person_boxes(img, path, bbox_thr, nms_thr)
                crops += [
                    self.pipeline(dict(info, bbox=b[None, :4], bbox_score=b[4:5])) for b in boxes
                ]
                crop_metas.append((info, len(boxes)))
                imgs.append(img)
                if len(crops) >= batch_size:
                    yield (self.collate_fn(crops) if crops else None, crop_metas), imgs
                    crops, crop_metas, imgs = [], [], []
                continue
            batch.append(self.pipeline(info))
            imgs.append(img)
            if len(batch) == batch_size:
                yield (self.collate_fn(batch), None), imgs
                batch, imgs = [], []
        if batch:
            yield (self.collate_fn(batch), None), imgs
        if crop_metas:
            yield (self.collate_fn(crops) if crops else None, crop_metas), imgs

    def _check_fixed_network_size(self, inputs: Sequence) -> None:
        """A bottom-up ONNX file of a fixed input size runs only images that BottomupResize
        brings to that size: every input is sized (from its header) before any is run, so a
        folder of mixed aspect ratios is refused before anything is written."""
        fixed = fixed_input_hw(getattr(self.model.backbone, 'input_shape', ()))
        if fixed is None or self.cfg.data_mode == 'topdown':
            return
        resize = next((t for t in getattr(self.pipeline, 'transforms', [])
                       if hasattr(t, '_get_input_size') and hasattr(t, 'input_size')), None)
        if resize is None:
            return
        from PIL import Image
        wrong = []
        for item in inputs:
            if isinstance(item, str):
                try:
                    with Image.open(item) as im:
                        w, h = im.size
                except Exception:  # unreadable: skipped (or refused) when it is read
                    continue
            else:
                h, w = np.asarray(item).shape[:2]
            pw, ph = resize._get_input_size((w, h), tuple(resize.input_size))[1]
            if (int(ph), int(pw)) != tuple(fixed):
                wrong.append(
                    (item if isinstance(item, str) else 'an array input', w, h, int(ph), int(pw)))
        if wrong:
            name, w, h, ph, pw = wrong[0]
            raise ValueError(
                fixed_size_message(
                    self.model.backbone.onnx_file, fixed,
                    f'{len(wrong)} of {len(inputs)} input image(s) are resized to other sizes by '
                    f'{type(resize).__name__} ({resize.resize_mode} to {tuple(resize.input_size)}, '
                    f'size_factor {resize.size_factor}), e.g. {name} ({w}x{h} W x H) to {ph}x{pw}; '
                    'nothing was written'))

    def _set_bottomup_thresholds(self, bbox_thr: float, nms_thr: float) -> None:
        """A one-stage head filters its own predictions: as mmpose's inferencer, ``bbox_thr``
        and ``nms_thr`` become the ``score_thr``/``nms_thr`` of its ``test_cfg`` where it has
        them (RTMO); DEKR and SAMKR have neither."""
        if self.cfg.data_mode == 'topdown':
            return
        head_cfg = getattr(getattr(self.model, 'head', None), 'test_cfg', None) or {}
        for key, value in (('score_thr', bbox_thr), ('nms_thr', nms_thr)):
            if key in head_cfg or key in self.model.test_cfg:
                self.model.test_cfg[key] = value

    def _effective_batch_size(self, batch_size: int) -> int:
        if batch_size < 1:
            raise ValueError(f'--batch-size must be >= 1, got {batch_size}.')
        if batch_size == 1 or self.cfg.data_mode == 'topdown':
            return batch_size  # top-down: crops, see preprocess
        head = getattr(self.model, 'head', None)
        if not getattr(head, 'supports_batch_predict', False):
            print_log(
                f'{type(head).__name__} cannot predict batched; using batch size 1 '
                f'instead of {batch_size}.',
                logger='current',
                level=logging.WARNING)
            return 1
        return batch_size

    def person_boxes(self,
                     img: np.ndarray,
                     path: str,
                     bbox_thr: float = 0.3,
                     nms_thr: float = 0.3) -> np.ndarray:
        """(M, 5) xyxy+score person boxes of one image (detector or detection file)."""
        if self.detections is not None:
            image_id = (
                self._image_ids[path]
                if path in self._image_ids else self.detections.image_id(path))
            if not self.detections.has_entry(image_id):
                self.no_detections.append(path)
                print_log(
                    f'{path}: no entry for image_id {image_id} in --bbox-file '
                    f'{self.detections.bbox_file}; it gets no person.',
                    logger='current',
                    level=logging.WARNING)
            boxes = self.detections.boxes_of_id(image_id)
            return boxes[boxes[:, 4] > bbox_thr]
        pred = self.detector(img, return_datasamples=True)['predictions'][0]
        pred = pred.pred_instances.cpu().numpy()
        labels = np.isin(pred.labels, self.det_cat_ids).astype(int) - 1  # 0: a person class
        return select_person_boxes(pred.bboxes, pred.scores, labels, 0, bbox_thr, nms_thr)

    # -------------------------------------------------------------------------- forward
    @torch.no_grad()
    def forward(self,
                inputs,
                merge_results: bool = True,
                bbox_thr: float = -1,
                pose_based_nms: bool = False) -> List[PoseDataSample]:
        """One data sample per image; an image without person boxes gets no instance (not a
        whole-image box as in mmpose's inferencer). Top-down crops of several images run as one
        batch and are split back per image.

        As in mmpose's inferencer, ``bbox_thr`` > 0 keeps the instances scoring above it and
        ``pose_based_nms`` removes instances whose keypoints lie on a better one's
        (``nearby_joints_nms``, a third of the keypoints within its default distance). Their
        score is ``bbox_scores`` where the predictions have it (top-down, RTMO); DEKR and SAMKR
        predict none, and there it is the mean of ``keypoint_scores`` (root score times rescore,
        the instance score their COCO evaluation ranks by, ``score_mode='keypoint'``). Kept
        predictions with NaN/inf are refused (:func:`check_finite_predictions`).
        """
        data, metas = inputs
        samples = self.predict_batch(data) if data is not None else []
        if self.cfg.data_mode == 'topdown':
            out, start = [], 0
            for meta, num in metas:
                own = samples[start:start + num]
                start += num
                if not own:
                    out.append(
                        PoseDataSample(
                            metainfo=dict(
                                img_path=meta['img_path'],
                                ori_shape=meta['ori_shape'],
                                img_shape=meta['ori_shape'])))
                else:
                    out += [merge_data_samples(own)] if merge_results else own
            samples = out
        for sample in samples:
            filter_instances(sample, bbox_thr, pose_based_nms)
            # what is kept must be numbers (the people a threshold drops may be anything)
            check_finite_predictions(getattr(self, 'weights_source', 'the model'), sample)
        return samples

    def predict_batch(self, data: dict) -> List[PoseDataSample]:
        """The model-forward step: collated pipeline outputs -> one data sample per input.

        A backend (e.g. ONNX Runtime) replaces this method.
        """
        return self.model.test_step(data)

    # ---------------------------------------------------------------------- visualize
    def update_model_visualizer_settings(self,
                                         draw_heatmap: bool = False,
                                         skeleton_style: str = 'mmpose',
                                         **kwargs) -> None:
        super().update_model_visualizer_settings(draw_heatmap, skeleton_style)
        # mmpose sets the openpose style only; switch back for a later mmpose-style call
        if skeleton_style == 'mmpose':
            self.visualizer.set_dataset_meta(self.model.dataset_meta, skeleton_style)

    def visualize(self, inputs, preds, **kwargs):
        # mmpose names a drawing by the image's basename; ours keep the relative path
        self._pending_vis = [self._vis_names.get(p.metainfo.get('img_path'), '') for p in preds]
        return super().visualize(inputs, preds, **kwargs)

    def save_visualization(self, visualization, vis_out_dir, img_name=None):
        if not self._video_input:
            name = self._pending_vis.pop(0) if self._pending_vis else ''
            img_name = name or img_name
            self._claim(osp.join(vis_out_dir, img_name))
        super().save_visualization(visualization, vis_out_dir, img_name)
        if not self._video_input:
            self.written.append(osp.join(vis_out_dir, img_name))

    def _claim(self, path: str) -> None:
        """Refuse to overwrite a file this run has written."""
        if path in self._claimed:
            raise RuntimeError(f'{path} was already written in this run; two inputs map to the '
                               'same output file. Run them into separate --output-root folders.')
        self._claimed.add(path)

    # --------------------------------------------------------------------- postprocess
    def postprocess(self,
                    preds: List[PoseDataSample],
                    visualization,
                    return_datasample=None,
                    return_datasamples: bool = False,
                    pred_out_dir: str = '') -> dict:
        """The predictions (instances, or data samples), and with ``pred_out_dir``
        ``results_<name>.json`` per image (per video: one entry per frame, from 1)."""
        instances = [split_instances(p.get('pred_instances', None)) for p in preds]
        if pred_out_dir:
            for pred, insts in zip(preds, instances):
                if self._video_input:
                    self.video_info['predictions'].append(insts)
                    continue
                path = pred.metainfo['img_path']
                out = osp.join(
                    pred_out_dir,
                    self._result_names.get(path,
                                           f'results_{osp.splitext(osp.basename(path))[0]}.json'))
                self._claim(out)
                os.makedirs(osp.dirname(out) or '.', exist_ok=True)
                save_predictions(out, self.model.dataset_meta, insts)
                self.written.append(out)
        return dict(
            visualization=visualization, predictions=preds if return_datasamples else instances)

    def _finalize_video_processing(self, pred_out_dir: str = ''):
        if not self.video_info['predictions'] and self.video_info['writer'] is None:
            raise ValueError(f'cannot read any frame of video {self.video_info["name"]!r}; '
                             're-encode it.')
        if self.video_info['writer'] is not None:
            self.video_info['writer'].release()
            self.written.append(self.video_info['output_file'])
        if pred_out_dir:
            out = osp.join(pred_out_dir, self.video_info['result_name'])
            save_predictions(out, self.model.dataset_meta, [
                dict(frame_id=i, instances=insts)
                for i, insts in enumerate(self.video_info['predictions'], start=1)
            ])
            self.written.append(out)

    # --------------------------------------------------------------------------- run
    def run(self,
            inputs: str,
            output_root: str = '',
            save_predictions: bool = False,
            show: bool = False,
            show_interval: float = 0,
            batch_size: int = 1,
            strict: bool = False,
            alpha: float = 0.8,
            **kwargs) -> List[str]:
        """Predict, draw and save over an image, a video or a folder of images, as the demos.

        Writes ``output_root/<input name>`` (the drawing; ``<stem>.mp4`` for a video) and,
        with ``save_predictions``, ``output_root/results_<input stem>.json`` per image or
        video. Skipped inputs and images without detections are reported at the end.

        Args:
            kwargs: Passed on to :meth:`__call__` (bbox_thr, nms_thr, kpt_thr, draw_bbox,
                draw_heatmap, skeleton_style, radius, thickness, show_kpt_idx).

        Returns:
            The paths written.
        """
        if not output_root and not show:
            raise ValueError('nothing to do: pass --output-root DIR (and/or --show).')
        if save_predictions and not output_root:
            raise ValueError('--save-predictions needs --output-root DIR to write the json to.')
        input_kind(inputs)
        if output_root:
            os.makedirs(output_root, exist_ok=True)
        self.skipped, self.no_detections, self.written = [], [], []
        self.visualizer.alpha = alpha  # the box fill; mmpose's inferencer has no argument
        for _ in self(
                inputs,
                batch_size=batch_size,
                strict=strict,
                show=show,
                wait_time=show_interval,
                vis_out_dir=output_root,
                pred_out_dir=output_root if save_predictions else '',
                **kwargs):
            pass
        for path in self.written:
            print_log(f'saved {path}', logger='current', level=logging.INFO)
        self._report()
        return list(self.written)

    def _report(self) -> None:
        if self.no_detections:
            msg = (f'{len(self.no_detections)} input image(s) have no entry in --bbox-file '
                   f'{self.detections.bbox_file} and got no person: ' +
                   ', '.join(self.no_detections[:10]) +
                   (' ...' if len(self.no_detections) > 10 else ''))
            print_log(msg, logger='current', level=logging.WARNING)
            warnings.warn(msg, NoDetectionsWarning, stacklevel=3)
        if self.skipped:
            msg = (f'skipped {len(self.skipped)} unreadable input(s) (pass --strict to stop at '
                   'the first): ' + '; '.join(p for p, _ in self.skipped))
            print_log(msg, logger='current', level=logging.WARNING)
            if not self.written and not self._video_input:
                raise ValueError(self.skipped[0][1] if len(self.skipped) ==
                                 1 else 'no input could be read: ' + msg)
            warnings.warn(msg, SkippedInputsWarning, stacklevel=3)
