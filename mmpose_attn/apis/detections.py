"""Person boxes for top-down inference: from a detector's output or from a COCO
detection-result file, with images matched to ``image_id`` without guessing."""
import json
import logging
import os.path as osp
import warnings
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log
from mmpose.evaluation.functional import nms

COCO_PERSON_CATEGORY_ID = 1


class NoDetectionsWarning(UserWarning):
    """Raised when input images have no entry in the detection file."""


class FileNameIdsWarning(UserWarning):
    """Raised (once per detection file) when image ids are read from COCO-style file names."""


def is_coco_image_name(stem: str) -> bool:
    """Whether a file stem is a COCO image name: the image id written with 12 digits."""
    return len(stem) == 12 and stem.isdigit()


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


def _parts(path: str) -> List[str]:
    return [p for p in osp.normpath(path).replace('\\', '/').split('/') if p not in ('', '.')]


class CocoDetections:
    """Person boxes from a COCO detection-result json, as mmpose's top-down test configs read
    them through ``bbox_file``.

    The file is a list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``. Images
    are matched to their ``image_id``:

    * with ``ann_file`` (a COCO annotation json), through ``images[].file_name``, a path relative
      to the image root: an input image matches the entry whose ``file_name`` shares the most
      trailing path parts with it (``.../val/vid1/000000.jpg`` -> ``images/val/vid1/000000.jpg``);
      a tie (the same name in two folders that the input path does not tell apart) or no entry
      at all is an error;
    * without it, through the file name, only in COCO's own layout, where the name is the id
      written with 12 digits (``000000000785.jpg`` -> 785): every name such a number, no two
      inputs with the same number, and some of the numbers found among the file's ``image_id``.
      The mapping and its evidence are then logged once (and warned as
      :class:`FileNameIdsWarning`). Anything else is an error asking for ``--ann-file``: OCHuman's
      ``000817.jpg`` is not image 817 (its ids run 1..N), HumanArt's ``000000000590.jpg`` is id
      15000000000590 (none found).

    Args:
        bbox_file: The detection-result json.
        ann_file: Optional COCO annotation json for the file-name -> image_id mapping.
        cat_id: COCO category id to keep (1 = person).
    """

    def __init__(self, bbox_file: str, ann_file: Optional[str] = None,
                 cat_id: int = COCO_PERSON_CATEGORY_ID) -> None:
        self.bbox_file = bbox_file
        self.ann_file = ann_file
        self.file_name_ids_note: Optional[str] = None  # said once when ids come from names
        dets = _read_json(bbox_file, '--bbox-file')
        if not isinstance(dets, list):
            raise ValueError(f'--bbox-file {bbox_file} must hold a COCO detection-result list '
                             '[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...], '
                             f'got a {type(dets).__name__}.')
        boxes: Dict[int, list] = defaultdict(list)
        self._all_ids = set()
        for i, det in enumerate(dets):
            missing = {'image_id', 'bbox', 'score'} - set(det)
            if missing:
                raise ValueError(f'--bbox-file {bbox_file}: entry {i} lacks {sorted(missing)}; '
                                 'each entry needs image_id, bbox [x, y, w, h] and score.')
            self._all_ids.add(int(det['image_id']))
            if det.get('category_id', cat_id) != cat_id:
                continue
            x, y, w, h = det['bbox']
            boxes[int(det['image_id'])].append([x, y, x + w, y + h, det['score']])
        self._boxes = {k: np.asarray(v, dtype=np.float32) for k, v in boxes.items()}

        # file_name parts -> id, indexed by basename for the suffix match
        self._by_basename: Optional[Dict[str, List[tuple]]] = None
        if ann_file is not None:
            ann = _read_json(ann_file, '--ann-file')
            images = ann.get('images') if isinstance(ann, dict) else None
            if not isinstance(images, list):
                raise ValueError(f'--ann-file {ann_file} has no "images" list; pass the COCO '
                                 'annotation json whose images the --bbox-file ids refer to.')
            self._by_basename = defaultdict(list)
            for j, im in enumerate(images):
                if 'file_name' not in im or 'id' not in im:
                    raise ValueError(f'--ann-file {ann_file}: images[{j}] lacks file_name or '
                                     'id.')
                parts = _parts(im['file_name'])
                self._by_basename[parts[-1]].append((parts, int(im['id']), im['file_name']))

    def image_id(self, img_path: str) -> int:
        """The COCO ``image_id`` of one image file (see the class docstring for the rules)."""
        return self.match([img_path])[img_path]

    def match(self, img_paths: Sequence[str]) -> Dict[str, int]:
        """``image_id`` of every input image; raises a clear error when any is ambiguous or
        cannot be matched, before anything is predicted."""
        if self._by_basename is not None:
            return {p: self._match_ann(p) for p in img_paths}
        ids = {}
        for p in img_paths:
            stem = osp.splitext(osp.basename(p))[0]
            if not stem.isdigit():
                raise ValueError(
                    f'cannot tell the COCO image_id of {p!r} for --bbox-file: name the image by '
                    'its id (000000000785.jpg) or pass --ann-file with the COCO annotation json '
                    'that lists the images.')
            ids[p] = int(stem)
        by_id = defaultdict(list)
        for p, i in ids.items():
            by_id[i].append(p)
        repeated = [ps for ps in by_id.values() if len(ps) > 1]
        if repeated:
            raise ValueError(
                f'--bbox-file: {repeated[0]} all read as image_id {ids[repeated[0][0]]} from '
                'their file names; pass --ann-file with the COCO annotation json so that each '
                'image is matched by its file_name.')
        found = set(ids.values()) & self._all_ids
        if ids and not found:
            examples = sorted(self._all_ids)[:3]
            raise ValueError(
                f'--bbox-file {self.bbox_file}: none of the {len(ids)} input images has its file '
                f'name number (e.g. {next(iter(ids.values()))} from {next(iter(ids))!r}) as an '
                f'image_id in the file (its ids look like {examples}); the ids are not the file '
                'names here. Pass --ann-file with the COCO annotation json that lists these '
                'images.')
        not_coco = [p for p in ids if not is_coco_image_name(osp.splitext(osp.basename(p))[0])]
        if not_coco:
            raise ValueError(
                f'--bbox-file {self.bbox_file}: cannot tell whether the number in a file name '
                f'such as {osp.basename(not_coco[0])!r} is its image_id: only COCO\'s own names '
                '(the id in 12 digits, 000000000785.jpg) are known to be; other datasets number '
                "their files apart from their ids (OCHuman's 000817.jpg is not image 817). Pass "
                '--ann-file with the COCO annotation json that lists these images '
                '(images[].file_name and id).')
        if self.file_name_ids_note is None and ids:
            path, image_id = next(iter(ids.items()))
            self.file_name_ids_note = (
                f'--bbox-file {self.bbox_file}: image ids are read from the file names, as COCO '
                f'names its images ({osp.basename(path)!r} -> image_id {image_id}; '
                f'{sum(i in found for i in ids.values())} of {len(ids)} input images have '
                'entries in the file). If these are not COCO\'s images, pass --ann-file with the '
                'annotation json that lists them.')
            print_log(self.file_name_ids_note, logger='current', level=logging.WARNING)
            warnings.warn(self.file_name_ids_note, FileNameIdsWarning, stacklevel=3)
        return ids

    def _match_ann(self, img_path: str) -> int:
        parts = _parts(osp.abspath(img_path))
        candidates = self._by_basename.get(parts[-1], [])
        if not candidates:
            raise ValueError(f'image {img_path!r} is not listed in the --ann-file '
                             f'{self.ann_file} images (no file_name ends with {parts[-1]!r}); '
                             'pass the annotation json that belongs to --bbox-file.')

        def common(c_parts):
            n = 0
            while n < min(len(c_parts), len(parts)) and c_parts[-1 - n] == parts[-1 - n]:
                n += 1
            return n

        scored = sorted(((common(c[0]), c) for c in candidates), key=lambda t: -t[0])
        best = [c for n, c in scored if n == scored[0][0]]
        if len(best) > 1:
            raise ValueError(
                f'image {img_path!r} matches several --ann-file images equally '
                f'({", ".join(c[2] for c in best[:3])}); run on a path that ends with the '
                'file_name folders of the annotation file (e.g. the image root/<file_name>).')
        return best[0][1]

    def has_entry(self, image_id: int) -> bool:
        """Whether the file holds any detection (of any category) for ``image_id``."""
        return image_id in self._all_ids

    def boxes_of_id(self, image_id: int) -> np.ndarray:
        """(N, 5) xyxy+score person boxes of an image id, all scores (empty when none)."""
        return self._boxes.get(image_id, np.zeros((0, 5), np.float32))

    def boxes(self, img_path: str) -> np.ndarray:
        """(N, 5) xyxy+score boxes of the image, all scores (empty when the file has none)."""
        return self.boxes_of_id(self.image_id(img_path))


def _read_json(path: str, role: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{role} {path!r} does not exist.')
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{role} {path} is not valid json: {e}') from e
