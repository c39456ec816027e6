"""Inference helpers behind ``tools/topdown_demo_with_mmdet.py`` and ``tools/bottomup_demo.py``.

The heavy lifting is mmpose's and mmdet's (``init_model``, ``inference_topdown``,
``init_detector``, ``inference_detector``, ``merge_data_samples``, ``split_instances``, the pose
visualizer); this module adds what their demos lack:

* configs given as files or as ``mmdet::``/``mmpose::`` package paths, checked to be what the
  caller expects (a pose config is not silently given to a detector and vice versa);
* the checkpoint word ``none``: randomly initialised weights for offline smoke tests, with every
  ``init_cfg`` removed so that nothing is downloaded, and a loud warning;
* person boxes from a COCO detection-result json (``--bbox-file``) instead of a detector;
* images, videos and folders of images as inputs, bottom-up prediction batched over a folder;
* clear errors naming the bad path or field and the fix.
"""
import json
import logging
import mimetypes
import os
import os.path as osp
import warnings
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Union

import cv2
import json_tricks
import mmcv
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import DefaultScope, init_default_scope

from mmpose.apis import inference_topdown, init_model
from mmpose.evaluation.functional import nms
from mmpose.registry import MODELS, VISUALIZERS
from mmpose.structures import PoseDataSample, merge_data_samples, split_instances
from ..utils import load_config, remove_init_cfg

NONE_CHECKPOINT = 'none'
COCO_PERSON_CATEGORY_ID = 1
ImageOrPath = Union[np.ndarray, str]
# predict(images (BGR, HxWx3), source paths) -> one PoseDataSample per image
PredictFn = Callable[[List[np.ndarray], List[str]], List[PoseDataSample]]


class RandomWeightsWarning(UserWarning):
    """Raised when a model runs with randomly initialised weights (checkpoint ``none``)."""


# ------------------------------------------------------------------------------------ configs
def pose_estimator_kind(cfg: Config) -> Optional[str]:
    """``'topdown'``/``'bottomup'`` for an mmpose pose-estimator config, ``None`` otherwise."""
    import mmpose.models  # noqa: F401  (fills the registry)
    from mmpose.models.pose_estimators import BottomupPoseEstimator, TopdownPoseEstimator
    from mmpose.models.pose_estimators.base import BasePoseEstimator
    model_type = _model_type(cfg)
    if model_type is None:
        return None
    cls = model_type if isinstance(model_type, type) else MODELS.get(model_type)
    if not (isinstance(cls, type) and issubclass(cls, BasePoseEstimator)):
        return None
    if issubclass(cls, TopdownPoseEstimator):
        return 'topdown'
    if issubclass(cls, BottomupPoseEstimator):
        return 'bottomup'
    return 'other'


def _model_type(cfg: Config):
    model = cfg.get('model')
    return model.get('type') if isinstance(model, dict) else None


def check_pose_config(cfg: Config, expect: Optional[str] = None) -> str:
    """Raise a clear error unless ``cfg`` is a pose config (of kind ``expect`` when given)."""
    kind = pose_estimator_kind(cfg)
    name = cfg.filename or 'the config'
    model_type = _model_type(cfg)
    if kind is None:
        raise ValueError(
            f'POSE_CONFIG {name} is not an mmpose pose config: its model.type is {model_type!r} '
            f"(default_scope={cfg.get('default_scope')!r}), not an mmpose pose estimator. "
            'Pass a pose config such as configs/esam/coco/'
            'td-hm_esam-res50_8xb64-270e_coco-256x192.py; detector configs go to DET_CONFIG.')
    if expect is not None and kind != expect:
        tool = {'topdown': 'tools/topdown_demo_with_mmdet.py',
                'bottomup': 'tools/bottomup_demo.py'}.get(kind, 'the matching tool')
        raise ValueError(f'POSE_CONFIG {name} is a {kind} model ({model_type}), but a {expect} '
                         f'model is needed here; run {tool} for it.')
    return kind


def resolve_checkpoint(checkpoint: Optional[str], role: str = 'checkpoint') -> Optional[str]:
    """Return the checkpoint to load, or ``None`` for random weights (the word ``none``).

    Random weights produce meaningless keypoints, so this warns loudly (log banner and a
    :class:`RandomWeightsWarning`).
    """
    if checkpoint is None or str(checkpoint).lower() == NONE_CHECKPOINT:
        msg = (f'{role} is "none": the model runs with RANDOMLY INITIALISED weights. Its '
               'predictions are MEANINGLESS; use this only for smoke tests.')
        print_log('\n' + '!' * 80 + f'\n!!! {msg}\n' + '!' * 80, logger='current',
                  level=logging.WARNING)
        warnings.warn(msg, RandomWeightsWarning, stacklevel=2)
        return None
    checkpoint = str(checkpoint)
    if '://' not in checkpoint and not osp.isfile(osp.expanduser(checkpoint)):
        raise FileNotFoundError(
            f'{role} {checkpoint!r} does not exist. Pass a .pth file, a URL, or the word '
            f'"{NONE_CHECKPOINT}" for random weights (smoke tests only).')
    return checkpoint


# ------------------------------------------------------------------------------------- models
def build_pose_model(config: Union[str, Config],
                     checkpoint: Optional[str],
                     device: str = 'cpu',
                     cfg_options: Optional[dict] = None,
                     expect: Optional[str] = None,
                     output_heatmaps: bool = False) -> nn.Module:
    """Build a pose estimator with mmpose's ``init_model``.

    Args:
        config: Pose config (file, ``mmpose::`` path or :class:`Config`).
        checkpoint: A ``.pth``/URL, or ``'none'`` for random weights.
        device: e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options: Overrides merged into the config (``--cfg-options``).
        expect: ``'topdown'`` or ``'bottomup'`` to reject the other kind with a clear error.
        output_heatmaps: Keep heatmaps in the predictions (``--draw-heatmap``).
    """
    cfg = load_config(config, 'POSE_CONFIG')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_pose_config(cfg, expect)
    if output_heatmaps:
        cfg.merge_from_dict(dict(model=dict(test_cfg=dict(output_heatmaps=True))))
    checkpoint = resolve_checkpoint(checkpoint, 'POSE_CHECKPOINT')
    if checkpoint is None:
        remove_init_cfg(cfg.model)
    return init_model(cfg, checkpoint, device=device)


def build_detector(config: Union[str, Config],
                   checkpoint: Optional[str],
                   device: str = 'cpu') -> nn.Module:
    """Build an mmdet detector with ``init_detector``, its test pipeline adapted for mmpose."""
    try:
        from mmdet.apis import init_detector
    except ImportError as e:
        raise ImportError('The top-down demo needs mmdet>=3.0 for person detection; install '
                          'it (mim install "mmdet>=3.0") or pass --bbox-file.') from e
    from mmpose.utils import adapt_mmdet_pipeline

    cfg = load_config(config, 'DET_CONFIG')
    if pose_estimator_kind(cfg) is not None:
        raise ValueError(f'DET_CONFIG {cfg.filename} is an mmpose pose config; pass an mmdet '
                         'detector config such as mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py '
                         'and give the pose config as POSE_CONFIG.')
    checkpoint = resolve_checkpoint(checkpoint, 'DET_CHECKPOINT')
    if checkpoint is None:
        remove_init_cfg(cfg.model)
    detector = init_detector(cfg, checkpoint, device=device)
    detector.cfg = adapt_mmdet_pipeline(detector.cfg)
    return detector


# ------------------------------------------------------------------------------------ boxes
def select_person_boxes(bboxes: np.ndarray,
                        scores: np.ndarray,
                        labels: np.ndarray,
                        det_cat_id: int = 0,
                        bbox_thr: float = 0.3,
                        nms_thr: float = 0.3) -> np.ndarray:
    """Keep boxes of class ``det_cat_id`` scoring above ``bbox_thr``, then NMS (as mmpose's demo).

    Args:
        bboxes: (N, 4) xyxy boxes. scores: (N,). labels: (N,) class indices of the detector.

    Returns:
        np.ndarray: (M, 5) xyxy boxes with their score in the last column.
    """
    boxes = np.concatenate([bboxes.reshape(-1, 4), scores.reshape(-1, 1)], axis=1)
    boxes = boxes[np.logical_and(labels == det_cat_id, scores > bbox_thr)]
    return boxes[nms(boxes, nms_thr)] if len(boxes) else boxes.reshape(0, 5)


def detect_persons(detector: nn.Module, img: np.ndarray, det_cat_id: int = 0,
                   bbox_thr: float = 0.3, nms_thr: float = 0.3) -> np.ndarray:
    """Run the mmdet detector on one BGR image; return (M, 5) xyxy+score person boxes."""
    from mmdet.apis import inference_detector
    pred = inference_detector(detector, img).pred_instances.cpu().numpy()
    return select_person_boxes(pred.bboxes, pred.scores, pred.labels, det_cat_id, bbox_thr,
                               nms_thr)


class CocoDetections:
    """Person boxes from a COCO detection-result json, as mmpose's top-down test configs read
    them through ``bbox_file``.

    The file is a list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``. An image
    is matched to its ``image_id`` through ``ann_file`` (a COCO annotation json listing
    ``images[].file_name``) when given, otherwise through its file name, COCO style
    (``000000000785.jpg`` -> 785).

    Args:
        bbox_file: The detection-result json.
        ann_file: Optional COCO annotation json for the file-name -> image_id mapping.
        cat_id: COCO category id to keep (1 = person).
    """

    def __init__(self, bbox_file: str, ann_file: Optional[str] = None,
                 cat_id: int = COCO_PERSON_CATEGORY_ID) -> None:
        self.bbox_file = bbox_file
        dets = _read_json(bbox_file, '--bbox-file')
        if not isinstance(dets, list):
            raise ValueError(f'--bbox-file {bbox_file} must hold a COCO detection-result list '
                             '[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...], '
                             f'got a {type(dets).__name__}.')
        boxes: Dict[int, list] = defaultdict(list)
        for i, det in enumerate(dets):
            missing = {'image_id', 'bbox', 'score'} - set(det)
            if missing:
                raise ValueError(f'--bbox-file {bbox_file}: entry {i} lacks {sorted(missing)}; '
                                 'each entry needs image_id, bbox [x, y, w, h] and score.')
            if det.get('category_id', cat_id) != cat_id:
                continue
            x, y, w, h = det['bbox']
            boxes[int(det['image_id'])].append([x, y, x + w, y + h, det['score']])
        self._boxes = {k: np.asarray(v, dtype=np.float32) for k, v in boxes.items()}

        self._ids_by_name: Optional[Dict[str, int]] = None
        if ann_file is not None:
            images = _read_json(ann_file, '--ann-file').get('images', [])
            self._ids_by_name = {osp.basename(im['file_name']): int(im['id']) for im in images}

    def image_id(self, img_path: str) -> int:
        """The COCO ``image_id`` of an image file."""
        name = osp.basename(img_path)
        if self._ids_by_name is not None:
            if name not in self._ids_by_name:
                raise ValueError(f'image {name} is not listed in the --ann-file images; pass the '
                                 'annotation json that belongs to --bbox-file.')
            return self._ids_by_name[name]
        stem = osp.splitext(name)[0]
        if not stem.isdigit():
            raise ValueError(
                f'cannot tell the COCO image_id of {img_path!r} for --bbox-file: name the image '
                'by its id (000000000785.jpg) or pass --ann-file with the COCO annotation json.')
        return int(stem)

    def boxes(self, img_path: str) -> np.ndarray:
        """(N, 5) xyxy+score boxes of the image, all scores (empty when the file has none)."""
        return self._boxes.get(self.image_id(img_path), np.zeros((0, 5), np.float32))


def _read_json(path: str, role: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{role} {path!r} does not exist.')
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{role} {path} is not valid json: {e}') from e


# ---------------------------------------------------------------------------------- predictors
class TopdownPredictor:
    """Top-down prediction of one image at a time, boxes from a detector or a COCO json.

    Args:
        pose_model: From :func:`build_pose_model`.
        detector: From :func:`build_detector`; ignored when ``detections`` is given.
        detections: Boxes from ``--bbox-file``; used as they are (no NMS), scores above
            ``bbox_thr``, like mmpose's top-down test with a ``bbox_file``.
    """

    def __init__(self, pose_model: nn.Module, detector: Optional[nn.Module] = None,
                 detections: Optional[CocoDetections] = None, det_cat_id: int = 0,
                 bbox_thr: float = 0.3, nms_thr: float = 0.3) -> None:
        if detector is None and detections is None:
            raise ValueError('top-down prediction needs a detector or a --bbox-file.')
        self.pose_model = pose_model
        self.detector = detector
        self.detections = detections
        self.det_cat_id, self.bbox_thr, self.nms_thr = det_cat_id, bbox_thr, nms_thr
        self.batch_size = 1

    def person_boxes(self, img: np.ndarray, path: str) -> np.ndarray:
        """(M, 5) xyxy+score person boxes of one image."""
        if self.detections is not None:
            boxes = self.detections.boxes(path)
            return boxes[boxes[:, 4] > self.bbox_thr]
        return detect_persons(self.detector, img, self.det_cat_id, self.bbox_thr,
                              self.nms_thr)

    def __call__(self, imgs: List[np.ndarray], paths: List[str]) -> List[PoseDataSample]:
        return [predict_topdown(self.pose_model, img, self.person_boxes(img, path))
                for img, path in zip(imgs, paths)]


def predict_topdown(pose_model: nn.Module, img: np.ndarray,
                    boxes: np.ndarray) -> PoseDataSample:
    """Pose of every box in one image, merged into one data sample.

    Unlike ``inference_topdown`` alone, no box gives no instance (not one whole-image box), and
    ``bbox_scores`` are the detector's scores rather than ones.

    Args:
        img: (H, W, 3) BGR image. boxes: (M, 5) xyxy+score.
    """
    if len(boxes) == 0:
        return PoseDataSample(metainfo=dict(ori_shape=img.shape[:2], img_shape=img.shape[:2]))
    results = inference_topdown(pose_model, img, boxes[:, :4], bbox_format='xyxy')
    for result, score in zip(results, boxes[:, 4]):
        result.pred_instances.bbox_scores = np.array([score], dtype=np.float32)
    return merge_data_samples(results)


def inference_bottomup_batch(model: nn.Module, imgs: Sequence[ImageOrPath]
                             ) -> List[PoseDataSample]:
    """``mmpose.apis.inference_bottomup`` over a batch of images (one forward pass)."""
    init_default_scope(model.cfg.get('default_scope', 'mmpose'))
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    data = []
    for img in imgs:
        info = dict(img_path=img) if isinstance(img, str) else dict(img=img)
        info.update(model.dataset_meta)
        data.append(pipeline(info))
    with torch.no_grad():
        return model.test_step(pseudo_collate(data))


class BottomupPredictor:
    """Bottom-up prediction, ``batch_size`` images per forward pass.

    Heads that only predict batch size 1 (mmpose's ``DEKRHead`` asserts it; ``SAMKRHead`` with
    ``multiscale_test`` raises ValueError) make the first batch fail; the predictor then says so
    and continues with batch size 1.
    """

    def __init__(self, pose_model: nn.Module, batch_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f'--batch-size must be >= 1, got {batch_size}.')
        self.pose_model = pose_model
        self.batch_size = batch_size

    def __call__(self, imgs: List[np.ndarray], paths: List[str]) -> List[PoseDataSample]:
        if len(imgs) > 1 and self.batch_size > 1:
            try:
                return inference_bottomup_batch(self.pose_model, imgs)
            except (AssertionError, ValueError) as e:
                # a real error (not a batch limit) raises again below at batch size 1
                head = type(getattr(self.pose_model, 'head', None)).__name__
                print_log(f'{head} cannot predict a batch of {len(imgs)} images ({e}); falling '
                          'back to batch size 1.', logger='current', level=logging.WARNING)
                self.batch_size = 1
        return [inference_bottomup_batch(self.pose_model, [img])[0] for img in imgs]


# ------------------------------------------------------------------------------- visualization
def build_visualizer(pose_model: nn.Module, radius: int = 3, thickness: int = 1,
                     alpha: float = 0.8, skeleton_style: str = 'mmpose'):
    """mmpose's visualizer from the model config, with the model's dataset meta."""
    cfg = pose_model.cfg.visualizer
    cfg.radius, cfg.alpha, cfg.line_width = radius, alpha, thickness
    # init_detector may have switched the default scope to mmdet; the visualizer is mmpose's
    with DefaultScope.overwrite_default_scope(pose_model.cfg.get('default_scope', 'mmpose')):
        visualizer = VISUALIZERS.build(cfg)
    visualizer.set_dataset_meta(pose_model.dataset_meta, skeleton_style=skeleton_style)
    return visualizer


def draw_pose(visualizer, img: np.ndarray, data_sample: PoseDataSample, **kwargs) -> np.ndarray:
    """Draw the predictions on a BGR image; return the BGR drawing.

    ``kwargs`` go to ``PoseLocalVisualizer.add_datasample`` (kpt_thr, draw_bbox, show, ...).
    """
    visualizer.add_datasample('result', mmcv.bgr2rgb(img), data_sample=data_sample,
                              draw_gt=False, **kwargs)
    return mmcv.rgb2bgr(visualizer.get_image())


# -------------------------------------------------------------------------------------- inputs
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
    """Image files (by extension) directly inside ``folder``, sorted by name."""
    images = sorted(
        osp.join(folder, name) for name in os.listdir(folder)
        if (mimetypes.guess_type(name)[0] or '').startswith('image/')
        and osp.isfile(osp.join(folder, name)))
    if not images:
        raise ValueError(f'--input folder {folder!r} contains no image files (.jpg, .png, ...).')
    return images


def read_image(path: str) -> np.ndarray:
    """Read an image as (H, W, 3) BGR; a clear error when it cannot be decoded."""
    img = mmcv.imread(path)
    if img is None:
        raise ValueError(f'cannot read image {path!r}: the file is not a decodable image '
                         '(corrupt or unsupported format). Remove it from the input or convert '
                         'it to JPEG/PNG.')
    return img


def open_video(path: str) -> mmcv.VideoReader:
    """Open a video with mmcv; a clear error when OpenCV cannot decode it."""
    reader = mmcv.VideoReader(path)
    if not reader.opened or reader.width == 0 or reader.frame_cnt == 0:
        raise ValueError(f'cannot open video {path!r}: OpenCV cannot decode it (corrupt file '
                         'or unsupported codec). Re-encode it, e.g. `ffmpeg -i IN -c:v libx264 '
                         'OUT.mp4`, or pass its frames as a folder of images.')
    return reader


# ----------------------------------------------------------------------------------- the loop
def save_predictions(path: str, dataset_meta: dict, instance_info: list) -> None:
    """Write predictions in the format of mmpose's demos (json_tricks, numpy-aware)."""
    with open(path, 'w') as f:
        json_tricks.dump(dict(meta_info=dataset_meta, instance_info=instance_info), f,
                         indent='\t')


def run_inference(input_path: str,
                  predict: Union[TopdownPredictor, BottomupPredictor, PredictFn],
                  visualizer,
                  dataset_meta: dict,
                  output_root: str = '',
                  save_predictions_json: bool = False,
                  batch_size: Optional[int] = None,
                  show: bool = False,
                  show_interval: float = 0,
                  **draw_kwargs) -> List[str]:
    """Predict, draw and save over an image, a video or a folder of images.

    Writes ``output_root/<input name>`` (the drawing; a video for a video) and, with
    ``save_predictions_json``, ``output_root/results_<input stem>.json`` per image or video.

    Args:
        predict: ``predict(images, paths) -> data samples``; its ``batch_size`` attribute (or
            ``batch_size``) sets how many images it receives per call.
        draw_kwargs: Passed to :func:`draw_pose` (kpt_thr, draw_bbox, draw_heatmap, ...).

    Returns:
        The paths written.
    """
    if not output_root and not show:
        raise ValueError('nothing to do: pass --output-root DIR (and/or --show).')
    if save_predictions_json and not output_root:
        raise ValueError('--save-predictions needs --output-root DIR to write the json to.')
    kind = input_kind(input_path)
    if output_root:
        os.makedirs(output_root, exist_ok=True)
    written: List[str] = []
    draw_kwargs.update(show=show)

    def out_path(src: str, prefix: str = '', ext: Optional[str] = None) -> str:
        stem, src_ext = osp.splitext(osp.basename(src))
        return osp.join(output_root, f'{prefix}{stem}{ext if ext is not None else src_ext}')

    if kind in ('image', 'folder'):
        paths = [input_path] if kind == 'image' else list_images(input_path)
        start = 0
        while start < len(paths):
            # the predictor may drop to batch 1 after its first batch
            size = batch_size or getattr(predict, 'batch_size', 1)
            chunk = paths[start:start + size]
            start += len(chunk)
            imgs = [read_image(p) for p in chunk]
            for path, img, sample in zip(chunk, imgs, predict(imgs, chunk)):
                drawn = draw_pose(visualizer, img, sample, wait_time=show_interval,
                                  **draw_kwargs)
                if output_root:
                    mmcv.imwrite(drawn, out_path(path))
                    written.append(out_path(path))
                if save_predictions_json:
                    save_predictions(out_path(path, 'results_', '.json'), dataset_meta,
                                     split_instances(sample.get('pred_instances', None)))
                    written.append(out_path(path, 'results_', '.json'))
        _log_written(written)
        return written

    reader = open_video(input_path)
    writer, frames_info, frame_id = None, [], 0
    frame_iter = iter(reader)
    while True:
        size = batch_size or getattr(predict, 'batch_size', 1)
        frames = [f for f in (next(frame_iter, None) for _ in range(size)) if f is not None]
        if not frames:
            break
        samples = predict(frames, [input_path] * len(frames))
        for frame, sample in zip(frames, samples):
            frame_id += 1  # 1-based, as mmpose's demos number frames
            drawn = draw_pose(visualizer, frame, sample, wait_time=max(show_interval, 1e-3),
                              **draw_kwargs)
            if save_predictions_json:
                frames_info.append(dict(frame_id=frame_id, instances=split_instances(
                    sample.get('pred_instances', None))))
            if output_root:
                if writer is None:
                    writer = cv2.VideoWriter(out_path(input_path, ext='.mp4'),
                                             cv2.VideoWriter_fourcc(*'mp4v'), reader.fps or 25,
                                             (drawn.shape[1], drawn.shape[0]))
                writer.write(drawn)
    if frame_id == 0:
        raise ValueError(f'cannot read any frame of video {input_path!r}; re-encode it.')
    if writer is not None:
        writer.release()
        written.append(out_path(input_path, ext='.mp4'))
    if save_predictions_json:
        save_predictions(out_path(input_path, 'results_', '.json'), dataset_meta, frames_info)
        written.append(out_path(input_path, 'results_', '.json'))
    _log_written(written)
    return written


def _log_written(paths: List[str]) -> None:
    for path in paths:
        print_log(f'saved {path}', logger='current', level=logging.INFO)
