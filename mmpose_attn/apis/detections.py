"""Person boxes for top-down inference: from a detector's output or from a COCO
detection-result file, with images matched to ``image_id`` without guessing."""
import json
import logging
import math
import os.path as osp
import warnings
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log
from mmpose.evaluation.functional import nms
from PIL import Image

COCO_PERSON_CATEGORY_ID = 1


class NoDetectionsWarning(UserWarning):
    """Raised when input images have no entry in the detection file."""


class FileNameIdsWarning(UserWarning):
    """Raised (once per detection file) when image ids are read from COCO-style file names."""


class DroppedDetectionsWarning(UserWarning):
    """Raised once per reason when person boxes of a detection file are left out (NaN score or
    coordinates, zero or negative size, mostly outside their image), with the count; and when
    a few kept boxes reach past their image."""


#: A box reaches past its image when its right/bottom edge is beyond the image by more than
#: this fraction of the image size (plus one pixel): detectors clip boxes to the image.
_PAST_TOLERANCE = 0.01
#: A box with less than this fraction of its area inside its image is dropped.
_MIN_INSIDE = 0.5


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

    def __init__(self,
                 bbox_file: str,
                 ann_file: Optional[str] = None,
                 cat_id: int = COCO_PERSON_CATEGORY_ID) -> None:
        self.bbox_file = bbox_file
        self.ann_file = ann_file
        self.file_name_ids_note: Optional[str] = None  # said once when ids come from names
        dets = _read_json(bbox_file, '--bbox-file')
        if not isinstance(dets, list):
            raise ValueError(f'--bbox-file {bbox_file} must hold a COCO detection-result list '
                             '[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...], '
                             f'got a {type(dets).__name__}.')
        self._read_boxes(dets, cat_id)
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

    def _read_boxes(self, dets: list, cat_id: int) -> None:
        """Person boxes per image id (xyxy + score, with their entry index); a file that cannot
        be what it claims is refused, unusable boxes are dropped and said once per reason."""
        f = self.bbox_file
        boxes: Dict[int, list] = defaultdict(list)
        entries: Dict[int, list] = defaultdict(list)
        self._all_ids = set()
        categories: Counter = Counter()
        dropped: Dict[str, list] = defaultdict(list)
        persons = 0
        for i, det in enumerate(dets):
            if not isinstance(det, dict):
                raise ValueError(f'--bbox-file {f}: entry {i} is a {type(det).__name__}, not an '
                                 'object {"image_id", "category_id", "bbox", "score"}.')
            missing = {'image_id', 'bbox', 'score'} - set(det)
            if missing:
                raise ValueError(f'--bbox-file {f}: entry {i} lacks {sorted(missing)}; '
                                 'each entry needs image_id, bbox [x, y, w, h] and score.')
            bbox = det['bbox']
            if (not isinstance(bbox, (list, tuple)) or len(bbox) != 4
                    or not all(v is None or _is_number(v) for v in bbox)):
                what = (f'{len(bbox)} numbers'
                        if isinstance(bbox, (list, tuple)) else f'a {type(bbox).__name__}')
                raise ValueError(
                    f'--bbox-file {f}: entry {i} (image_id {det["image_id"]}) has bbox '
                    f'{bbox!r} ({what}); COCO detection files give 4 numbers [x, y, w, h] '
                    '(top-left corner, width and height in pixels). Fix or remove that entry.')
            self._all_ids.add(int(det['image_id']))
            category = det.get('category_id', cat_id)
            categories[category] += 1
            if category != cat_id:
                continue
            persons += 1
            x, y, w, h = (math.nan if v is None else float(v) for v in bbox)
            score = det['score']
            score = math.nan if not _is_number(score) else float(score)
            if not all(map(math.isfinite, (x, y, w, h))):
                dropped['NaN or infinite coordinates'].append((i, bbox, det['score']))
            elif w <= 0 or h <= 0:
                dropped['zero or negative width/height'].append((i, bbox, det['score']))
            elif not math.isfinite(score):
                dropped['score not a number (NaN or missing)'].append((i, bbox, det['score']))
            else:
                boxes[int(det['image_id'])].append([x, y, x + w, y + h, score])
                entries[int(det['image_id'])].append(i)
        if categories.get(0):
            raise ValueError(
                f'--bbox-file {f}: {categories[0]} of {len(dets)} entries have category_id 0, '
                "which no COCO category has: category_id 0 looks like mmdet's label index; "
                "COCO's person is 1 (and label 1, bicycle, would be read as person). Write COCO "
                "category ids: category_id = the dataset's id of the label (person: 1).")
        if dets and not persons:
            raise ValueError(
                f'--bbox-file {f}: no entry has category_id {cat_id} (COCO\'s person), so no '
                f'image would get a person; its category_ids are '
                f'{sorted(categories, key=str)[:10]}. Give the person boxes category_id {cat_id}.')
        kept = sum(len(v) for v in boxes.values())
        if persons and not kept:
            reasons = '; '.join(f'{len(v)} {r}' for r, v in dropped.items())
            raise ValueError(f'--bbox-file {f}: none of its {persons} person boxes is usable '
                             f'({reasons}; e.g. entry {next(iter(dropped.values()))[0][0]}). '
                             'Write finite scores and boxes as [x, y, w, h] with w, h > 0.')
        self._say_dropped(
            {
                r: [(e[0], f'bbox {e[1]}, score {e[2]}') for e in v]
                for r, v in dropped.items()
            }, persons)
        others = len(dets) - persons
        if others:
            print_log(
                f'--bbox-file {f}: {persons} person boxes (category_id {cat_id}); '
                f'{others} entries of other categories are not persons and left out.',
                logger='current',
                level=logging.INFO)
        self._boxes = {k: np.asarray(v, dtype=np.float32).reshape(-1, 5) for k, v in boxes.items()}
        self._entries = {k: np.asarray(v, dtype=int) for k, v in entries.items()}
        self._extent_checked: set = set()

    def _say_dropped(self,
                     dropped: Dict[str, list],
                     total: int,
                     boxes: str = 'person boxes') -> None:
        """One log line and one :class:`DroppedDetectionsWarning` per reason, with the count."""
        for reason, items in dropped.items():
            if not items:
                continue
            msg = (f'--bbox-file {self.bbox_file}: dropped {len(items)} of {total} {boxes}: '
                   f'{reason} (e.g. entry {items[0][0]}: {items[0][1]}).')
            print_log(msg, logger='current', level=logging.WARNING)
            warnings.warn(msg, DroppedDetectionsWarning, stacklevel=4)

    def _check_extent(self, ids: Dict[str, int]) -> None:
        """Compare the boxes of the matched images with the image sizes: a file whose boxes
        mostly reach past their image is refused (xyxy written as xywh, or another image size);
        boxes mostly outside their image are dropped and said once."""
        total, past, far = 0, [], []
        new = [(p, i) for p, i in ids.items() if i not in self._extent_checked]
        for path, image_id in new:
            self._extent_checked.add(image_id)
            boxes = self._boxes.get(image_id)
            size = _image_size(path) if boxes is not None and len(boxes) else None
            if size is None:
                continue
            width, height = size
            x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
            reach = ((x2 > width * (1 + _PAST_TOLERANCE) + 1)
                     | (y2 > height * (1 + _PAST_TOLERANCE) + 1))
            inter = (
                np.clip(np.minimum(x2, width) - np.maximum(x1, 0), 0, None) *
                np.clip(np.minimum(y2, height) - np.maximum(y1, 0), 0, None))
            inside = inter / ((x2 - x1) * (y2 - y1))
            total += len(boxes)
            entries = self._entries[image_id]
            for k in np.flatnonzero(reach):
                past.append((int(entries[k]), image_id, path, size, boxes[k]))
            keep = inside >= _MIN_INSIDE
            far += [(int(entries[k]), f'bbox {_xywh(boxes[k])} on the {width}x{height} image '
                     f'{path}') for k in np.flatnonzero(~keep)]
            self._boxes[image_id] = boxes[keep]
            self._entries[image_id] = entries[keep]
        if past and 2 * len(past) > total:
            entry, image_id, path, (width, height), box = past[0]
            x, y, w, h = _xywh(box)
            xyxy = all(b[4][2] - b[4][0] > b[4][0] and b[4][3] - b[4][1] > b[4][1] and b[4][2] -
                       b[4][0] <= b[3][0] *
                       (1 + _PAST_TOLERANCE) + 1 and b[4][3] - b[4][1] <= b[3][1] *
                       (1 + _PAST_TOLERANCE) + 1 for b in past)
            why = ('this looks like xyxy, COCO detection files use [x, y, w, h]: write w = x2 - '
                   'x1, h = y2 - y1' if xyxy else
                   "the boxes are not in these images' pixel coordinates (boxes of other, larger "
                   'images, or scaled coordinates?)')
            raise ValueError(
                f'--bbox-file {self.bbox_file}: {len(past)} of {total} person boxes of the input '
                f'images reach past their image (e.g. entry {entry}, image_id {image_id}: bbox '
                f'{[x, y, w, h]} ends at x={x + w:g}, y={y + h:g} on the {width}x{height} image '
                f'{path}); {why}.')
        self._say_dropped({'mostly outside its image (less than half of the box inside)': far},
                          total, 'usable person boxes of the input images')
        kept_past = [b for b in past if not any(b[0] == e for e, _ in far)]
        if kept_past:  # detectors clip their boxes: a few past the edge are worth a word
            entry, image_id, path, (width, height), box = kept_past[0]
            msg = (f'--bbox-file {self.bbox_file}: {len(kept_past)} of {total} person boxes of '
                   f'the input images reach past their image and are kept (e.g. entry {entry}: '
                   f'bbox {_xywh(box)} on the {width}x{height} image {path}); if the file holds '
                   '[x1, y1, x2, y2], convert it to [x, y, w, h].')
            print_log(msg, logger='current', level=logging.WARNING)
            warnings.warn(msg, DroppedDetectionsWarning, stacklevel=3)

    def image_id(self, img_path: str) -> int:
        """The COCO ``image_id`` of one image file (see the class docstring for the rules)."""
        return self.match([img_path])[img_path]

    def match(self, img_paths: Sequence[str]) -> Dict[str, int]:
        """``image_id`` of every input image; raises a clear error when any is ambiguous or
        cannot be matched, before anything is predicted."""
        ids = self._match_ids(img_paths)
        self._check_extent(ids)
        return ids

    def _match_ids(self, img_paths: Sequence[str]) -> Dict[str, int]:
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
            warnings.warn(self.file_name_ids_note, FileNameIdsWarning, stacklevel=4)
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


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _xywh(box: np.ndarray) -> List[float]:
    """An (x1, y1, x2, y2, ...) row as the file wrote it, [x, y, w, h]."""
    return [round(float(v), 2) for v in (box[0], box[1], box[2] - box[0], box[3] - box[1])]


def _image_size(path: str) -> Optional[tuple]:
    """(width, height) of an image file from its header; None when it cannot be read (the run
    skips and reports it)."""
    try:
        with Image.open(path) as img:
            return img.size
    except Exception:
        return None


def _read_json(path: str, role: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{role} {path!r} does not exist.')
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{role} {path} is not valid json: {e}') from e
