"""An exported file's network input, made from an image by its deployment metadata alone.

What the test pipeline and the data preprocessor do before the network, driven by the metadata
(:mod:`.metadata`) instead of the config, with mmpose's own transforms: top-down,
``GetBBoxCenterScale`` + ``TopdownAffine`` per box; bottom-up, ``BottomupResize``; then the
channel order and mean/std. Used for calibration (``tools/deployment/quantize.py``); the runtime
package restates it without mmpose.
"""
import json
from typing import Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmpose.datasets.transforms import BottomupResize, GetBBoxCenterScale, TopdownAffine

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def normalise(img: np.ndarray, meta: dict) -> np.ndarray:
    """A BGR image (H, W, 3) as the network's input (3, H, W), float32: channel order, mean, std."""
    inp = meta['input']
    if inp['channel_order'] == 'rgb':
        img = img[..., ::-1]
    mean = np.asarray(inp['mean'], np.float32)
    std = np.asarray(inp['std'], np.float32)
    return np.ascontiguousarray(((img.astype(np.float32) - mean) / std).transpose(2, 0, 1))


def topdown_inputs(img: np.ndarray, bboxes_xyxy: np.ndarray, meta: dict) -> np.ndarray:
    """Crops of ``img`` (BGR) at the boxes (N, 4), as the network's input (N, 3, H, W)."""
    pipe = meta['pipeline']
    center_scale = GetBBoxCenterScale(padding=pipe.get('padding', 1.25))
    affine = TopdownAffine(input_size=tuple(pipe['input_size']), use_udp=pipe.get('use_udp', False))
    crops = []
    for box in np.asarray(bboxes_xyxy, np.float32).reshape(-1, 4):
        res = affine(center_scale(dict(img=img, bbox=box[None])))
        crops.append(normalise(res['img'], meta))
    w, h = pipe['input_size']
    return np.stack(crops) if crops else np.zeros((0, 3, h, w), np.float32)


def bottomup_input(img: np.ndarray, meta: dict) -> np.ndarray:
    """``img`` (BGR) resized as the test pipeline does, as the network's input (1, 3, H, W).

    A file exported at one size (``input.dynamic_hw`` false) gets exactly that size: the resize
    fits the image into it and pads.
    """
    step = {k: v for k, v in meta['pipeline'].items() if k not in ('type', 'aug_scales')}
    if not meta['input'].get('dynamic_hw', False):
        h, w = meta['input']['export_hw']
        step.update(input_size=(w, h), resize_mode='fit')
    step['input_size'] = tuple(step['input_size'])
    shape = img.shape[:2]
    res = BottomupResize(**step)(dict(img=img, img_shape=shape, ori_shape=shape))
    return normalise(res['img'], meta)[None]


def image_files(folder: str) -> List[str]:
    """The image files of ``folder``, sorted; a clear error when there are none."""
    import os
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'--images {folder}: not a folder')
    files = sorted(
        os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise FileNotFoundError(f'--images {folder}: no images ({", ".join(IMAGE_EXTS)}) there')
    return files


def read_boxes(bbox_file: str, score_thr: float = 0.3) -> dict:
    """Person boxes of a COCO detection-result file (a list of ``image_id``, ``bbox`` [x, y, w,
    h], ``score``, optional ``file_name``), as ``{image key: (N, 4) xyxy}``; the key is the
    ``file_name`` when given, else the ``image_id``."""
    with open(bbox_file) as f:
        dets = json.load(f)
    if not isinstance(dets, list) or any('bbox' not in d for d in dets[:1]):
        raise ValueError(f'--bbox-file {bbox_file}: expected a COCO detection-result list '
                         '(image_id, bbox [x, y, w, h], score)')
    boxes = {}
    for d in dets:
        if d.get('score', 1.0) < score_thr or d.get('category_id', 1) != 1:
            continue
        x, y, w, h = d['bbox']
        key = d.get('file_name', d.get('image_id'))
        boxes.setdefault(key, []).append([x, y, x + w, y + h])
    return {k: np.asarray(v, np.float32) for k, v in boxes.items()}


def image_id_of(path: str) -> Optional[int]:
    """The COCO image id in a file name such as ``000000197388.jpg``, else ``None``."""
    import os
    stem = os.path.splitext(os.path.basename(path))[0]
    return int(stem) if stem.isdigit() else None


def calibration_inputs(meta: dict,
                       files: Sequence[str],
                       boxes: Optional[dict] = None,
                       limit: int = 300) -> Iterator[Tuple[str, np.ndarray]]:
    """Network inputs (1, 3, H, W) from image files, at most ``limit``: top-down, one per box
    (from ``boxes`` keyed by file name or COCO image id; the whole image without them);
    bottom-up, one per image."""
    import os
    n = 0
    for path in files:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f'{path}: not an image OpenCV can read')
        if meta['kind'] == 'bottomup':
            batch = bottomup_input(img, meta)
        else:
            if boxes is None:
                found = np.array([[0, 0, img.shape[1], img.shape[0]]], np.float32)
            else:
                found = boxes.get(os.path.basename(path), boxes.get(image_id_of(path)))
                if found is None:
                    continue
            batch = topdown_inputs(img, found, meta)
        for x in batch:
            if n >= limit:
                return
            n += 1
            yield path, x[None]
