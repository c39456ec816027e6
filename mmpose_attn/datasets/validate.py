"""Up-front checks of COCO-style keypoint datasets, with errors naming the file, field and fix.

Without them a broken dataset fails late and cryptically: ``JSONDecodeError: Expecting value: line 1
column 1`` (no file name) while the dataloader is built, ``KeyError: 'file_name'`` or a numpy
reshape error inside mmpose's parser, ``KeyError: 'area'`` inside xtcocotools after a whole
inference pass, or, worst, nothing at all: mmpose drops a person without a ``bbox`` and OpenCV
decodes a truncated JPEG with a grey bottom half and trains on it.
"""
import json
import numbers
import os
import os.path as osp
import sys
import tempfile
import threading
from collections import Counter
from typing import Dict, List, Optional

import numpy as np

REQUIRED_FIELDS = ('images', 'annotations', 'categories')
# How many offending entries an error message lists before summarising the rest.
_MAX_LISTED = 5


class DatasetValidationError(ValueError):
    """A dataset problem found before training; the message names the file, field and fix."""


def _fail(ann_file: str, field: str, problem: str, fix: str) -> None:
    raise DatasetValidationError(f'{ann_file}: {field}: {problem}\n  Fix: {fix}')


def _listing(items: List[str], total: int) -> str:
    more = f' (and {total - len(items)} more)' if total > len(items) else ''
    return '; '.join(items) + more


def _fail_listed(ann_file: str, field: str, bad: List[str], problem: str, fix: str) -> None:
    if bad:
        _fail(ann_file, field, f'{problem}: {_listing(bad[:_MAX_LISTED], len(bad))}', fix)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _ann_name(i: int, ann) -> str:
    if isinstance(ann, dict):
        return f'annotations[{i}] (id={ann.get("id")})'
    return f'annotations[{i}]'


def check_image_file(path: str, decode: bool = False) -> Optional[str]:
    """Return why ``path`` is not a readable image, or None when it is.

    The default check is cheap enough for all of COCO (two small reads per file): the file exists,
    is not empty, starts with an image signature and, for JPEG/PNG, ends with the end-of-image
    marker, which is what a truncated download or copy lacks. ``decode=True`` additionally decodes
    every image with Pillow and every JPEG with OpenCV's libjpeg too, refusing one it warns about
    ("Corrupt JPEG data": garbled scan data that still decodes, see :func:`libjpeg_warnings`).
    A JPEG whose end marker is missing is decoded before being reported, since a few
    valid files carry bytes after the marker.
    """
    if not osp.isfile(path):
        return 'file not found'
    size = osp.getsize(path)
    if size == 0:
        return 'file is empty'
    with open(path, 'rb') as f:
        head = f.read(16)
        f.seek(max(0, size - 1024))
        tail = f.read()
    if head.startswith(b'\xff\xd8'):
        suspect = b'\xff\xd9' not in tail
    elif head.startswith(b'\x89PNG\r\n\x1a\n'):
        suspect = b'IEND' not in tail
    elif head[:4] in (b'GIF8', b'RIFF') or head[:2] in (b'BM', b'II', b'MM'):
        suspect = False
    else:
        return 'not a JPEG/PNG/BMP/GIF/WebP/TIFF image (unknown file signature)'
    if suspect or decode:
        from PIL import Image
        try:
            with Image.open(path) as im:
                im.load()  # raises "image file is truncated" on a partial file
        except Exception as e:  # noqa: BLE001  (any decoder failure means the file is unusable)
            return f'cannot be decoded ({type(e).__name__}: {e}); the file is truncated or corrupt'
    if decode and head.startswith(b'\xff\xd8'):
        corrupt = libjpeg_warnings(path)
        if corrupt:
            return (f'is corrupt inside: libjpeg warns "{corrupt[0]}" while decoding it (the '
                    'image decodes, but part of it is noise); replace the file')
    return None


_STDERR_LOCK = threading.Lock()


def libjpeg_warnings(path: str) -> List[str]:
    """The "Corrupt JPEG data ..." warnings libjpeg gives while OpenCV decodes ``path``.

    Garbled entropy-coded data often still decodes (Pillow raises nothing; OpenCV, which the
    training pipeline reads images with, returns an image whose lower part is noise); libjpeg only
    prints a warning to the process's stderr, which is captured here at the file-descriptor level.
    """
    import cv2
    with open(path, 'rb') as f:
        buf = np.frombuffer(f.read(), np.uint8)
    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            cv2.imdecode(buf, cv2.IMREAD_COLOR)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode('utf-8', 'replace')
    return [
        line.strip() for line in text.splitlines()
        if 'Corrupt JPEG data' in line or 'Premature end of JPEG' in line
    ]


def load_annotation_file(ann_file: str) -> dict:
    """Read a COCO-format json file; a missing, truncated or non-object file is a clear error."""
    if not osp.isfile(ann_file):
        _fail(
            ann_file, 'ann_file', 'the annotation file does not exist',
            'check data_root and ann_file of the dataset (or the evaluator\'s ann_file) in your '
            'config.')
    try:
        with open(ann_file, 'rb') as f:
            data = json.loads(f.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        _fail(ann_file, '(whole file)', f'not valid JSON ({e})',
              'the file is truncated or not a COCO annotation file; download or export it again.')
    if not isinstance(data, dict):
        _fail(ann_file, '(top level)', f'expected a JSON object, got {type(data).__name__}',
              'a COCO keypoint file is an object with "images", "annotations" and "categories".')
    return data


def _file_num_keypoints(data: dict) -> Optional[int]:
    """K that mmpose would read from the file: the first keypoint array's length / 3.

    mmpose reshapes every ``annotations[*].keypoints`` to (K, 3) and ignores the category's keypoint
    names (HumanArt lists 21 names with 17-keypoint arrays), so the names are only the last resort.
    """
    for ann in data['annotations']:
        kpts = ann.get('keypoints') if isinstance(ann, dict) else None
        if isinstance(kpts, list) and kpts and len(kpts) % 3 == 0:
            return len(kpts) // 3
    cats = data['categories']
    if cats and isinstance(cats[0], dict) and isinstance(cats[0].get('keypoints'), list):
        return len(cats[0]['keypoints'])
    return None


def validate_coco_data(data: dict,
                       ann_file: str,
                       num_keypoints: Optional[int] = None,
                       require_annotations: bool = True) -> Dict[str, int]:
    """Check the parsed content of a COCO-format keypoint file for everything mmpose's parser reads.

    The checks follow what ``xtcocotools.COCO`` and ``BaseCocoStyleDataset.parse_data_info`` access:
    categories' ``id``; images' ``id`` (unique), ``file_name``, ``width``, ``height``; annotations'
    ``id``, ``image_id`` (an existing image), ``category_id``, ``bbox`` (4 numbers) and
    ``keypoints`` (3 numbers per keypoint, K of the dataset metainfo). A missing ``bbox`` or
    ``keypoints`` is an error because mmpose would drop that person without a word: top-down
    training loses the sample, bottom-up training learns the person as background and evaluation
    counts them as missed.

    Args:
        data: the loaded json.
        ann_file: its path, for the messages.
        num_keypoints: K of the dataset metainfo; None takes it from the keypoint arrays.
        require_annotations: False accepts a file without ``annotations`` (image list for detection
            boxes, e.g. COCO test-dev).

    Returns:
        dict with ``num_images``, ``num_annotations``, ``num_keypoints``, ``max_people_per_image``,
        ``images_without_people`` and, for the evaluator check, ``missing_area``,
        ``missing_iscrowd``, ``missing_num_keypoints`` (annotations lacking the field) and
        ``missing_crowdIndex`` (images lacking it), each a list of the first offending entries
        with the count in ``*_count``.
    """
    if not require_annotations:
        data.setdefault('annotations', [])
    missing = [k for k in REQUIRED_FIELDS if not isinstance(data.get(k), list)]
    if missing:
        _fail(
            ann_file, ', '.join(f'"{k}"' for k in missing),
            f'missing or not a list (top-level keys present: {sorted(data)})',
            'COCO keypoint files need "images", "annotations" and "categories" lists; convert '
            'other formats with mmpose\'s tools/dataset_converters.')

    _fail_listed(ann_file, 'categories[*].id', [
        f'categories[{i}]'
        for i, c in enumerate(data['categories']) if not (isinstance(c, dict) and 'id' in c)
    ], 'missing', 'every category needs an "id" (COCO person: {"id": 1, "name": "person"}).')

    images = data['images']
    for key, fix in (('id', 'give every image entry a unique integer "id".'),
                     ('file_name', 'give every image entry its "file_name", the image path '
                      'relative to data_prefix.img (e.g. "000000000785.jpg" or '
                      '"val/video1/000001.jpg").'),
                     ('width', 'give every image entry its "width" and "height" in pixels (mmpose '
                      'clips the boxes to them).'),
                     ('height', 'give every image entry its "width" and "height" in pixels (mmpose '
                      'clips the boxes to them).')):
        _fail_listed(ann_file, f'images[*].{key}', [
            f'images[{i}]' + (f' (id={im.get("id")})' if key != 'id' else '')
            for i, im in enumerate(images) if not (isinstance(im, dict) and key in im)
        ], 'missing', fix)
    _fail_listed(ann_file, 'images[*].file_name', [
        f'images[{i}] (id={im["id"]}) has {im["file_name"]!r}'
        for i, im in enumerate(images) if not (isinstance(im['file_name'], str) and im['file_name'])
    ], 'not a non-empty string', 'write the image path relative to data_prefix.img.')
    _fail_listed(ann_file, 'images[*].width / height', [
        f'images[{i}] (id={im["id"]}) has {im["width"]!r} x {im["height"]!r}'
        for i, im in enumerate(images) if not (_is_number(im['width']) and _is_number(im['height']))
    ], 'not numbers', 'write the image size in pixels.')
    counts = Counter(im['id'] for im in images)
    _fail_listed(
        ann_file, 'images[*].id', [f'id={i} ({n} entries)' for i, n in counts.items() if n > 1],
        'not unique', 'give every image its own id (xtcocotools keeps only the last entry '
        'of a repeated id and moves all its people there).')
    image_ids = set(counts)

    k = num_keypoints if num_keypoints is not None else _file_num_keypoints(data)
    anns = data['annotations']
    people = Counter()
    bad = {
        name: []
        for name in ('type', 'id', 'image_id', 'category_id', 'bbox', 'bbox_value', 'keypoints',
                     'kpt_value', 'kpt_mod3', 'kpt_len')
    }
    evaluation = {name: [] for name in ('area', 'iscrowd', 'num_keypoints')}
    for i, ann in enumerate(anns):
        name = _ann_name(i, ann)
        if not isinstance(ann, dict):
            bad['type'].append(name)
            continue
        for key in ('id', 'category_id'):
            if key not in ann:
                bad[key].append(name)
        if ann.get('image_id') not in image_ids:
            bad['image_id'].append(f'{name} has image_id={ann.get("image_id")!r}')
        else:
            people[ann['image_id']] += 1
        bbox = ann.get('bbox')
        if 'bbox' not in ann:
            bad['bbox'].append(name)
        elif not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_is_number, bbox))):
            bad['bbox_value'].append(f'{name} has {bbox!r}')
        kpts = ann.get('keypoints')
        if 'keypoints' not in ann:
            bad['keypoints'].append(name)
        elif not (isinstance(kpts, list) and all(map(_is_number, kpts))):
            bad['kpt_value'].append(f'{name} has {type(kpts).__name__}' if not isinstance(
                kpts, list) else f'{name} has a non-number value')
        elif len(kpts) % 3:
            bad['kpt_mod3'].append(f'{name} has {len(kpts)}')
        elif k is not None and len(kpts) != 3 * k:
            bad['kpt_len'].append(f'{name} has {len(kpts)} ({len(kpts) // 3} keypoints)')
        for key, found in evaluation.items():
            if key not in ann:
                found.append(name)

    _fail_listed(
        ann_file, 'annotations[*]', bad['type'], 'not a JSON object',
        'every annotation is an object with "id", "image_id", "category_id", "bbox" and '
        '"keypoints".')
    _fail_listed(ann_file, 'annotations[*].id', bad['id'], 'missing',
                 'give every annotation a unique integer "id".')
    _fail_listed(ann_file, 'annotations[*].category_id', bad['category_id'], 'missing',
                 'give every annotation the "category_id" of its category (1 for COCO\'s person).')
    _fail_listed(ann_file, 'annotations[*].image_id', bad['image_id'],
                 'does not refer to an entry of "images"',
                 'fix or drop these annotations, or add the missing images.')
    _fail_listed(
        ann_file, 'annotations[*].bbox', bad['bbox'],
        'missing (mmpose would silently drop these people)',
        'add "bbox": [x, y, width, height] in pixels to each (e.g. the extent of its '
        'labelled keypoints, padded), or delete the annotation if it is not a person to '
        'train or evaluate on.')
    _fail_listed(
        ann_file, 'annotations[*].bbox', bad['bbox_value'], 'not 4 numbers',
        'write "bbox" as [x, y, width, height] in pixels (COCO format, not x1, y1, x2, y2 '
        'pairs).')
    _fail_listed(
        ann_file, 'annotations[*].keypoints', bad['keypoints'],
        'missing (mmpose would silently drop these people)',
        'add "keypoints": [x1, y1, v1, x2, y2, v2, ...] with all keypoints of the dataset '
        '(x=y=v=0 for unlabelled ones), or delete the annotation.')
    _fail_listed(ann_file, 'annotations[*].keypoints', bad['kpt_value'], 'not a list of numbers',
                 'write "keypoints" as a flat list [x1, y1, v1, x2, y2, v2, ...] of numbers.')
    _fail_listed(
        ann_file, 'annotations[*].keypoints', bad['kpt_mod3'],
        'length is not a multiple of 3 ([x, y, visibility] per keypoint)',
        'write 3 numbers per keypoint: x, y and v (0 unlabelled, 1 occluded, 2 visible); '
        'a list of only x, y pairs or a cut-off list cannot be read.')
    if k is not None:
        _fail_listed(
            ann_file, 'annotations[*].keypoints', bad['kpt_len'],
            f'expected 3 * {k} = {3 * k} values ({k} keypoints of the dataset metainfo)',
            f'write all {k} keypoints of the dataset for every person (x=y=v=0 for '
            'unlabelled ones), or use the dataset metainfo that matches the file (e.g. '
            'CrowdPose has 14 keypoints, COCO 17) and the same K in the head '
            '(out_channels / num_keypoints).')

    summary = dict(
        num_images=len(images),
        num_annotations=len(anns),
        num_keypoints=k if k is not None else 0,
        max_people_per_image=max(people.values(), default=0),
        images_without_people=sum(1 for i in image_ids if people[i] == 0))
    evaluation['crowdIndex'] = [
        f'images[{i}] (id={im["id"]})' for i, im in enumerate(images) if 'crowdIndex' not in im
    ]
    for key, found in evaluation.items():
        summary[f'missing_{key}'] = found[:_MAX_LISTED]
        summary[f'missing_{key}_count'] = len(found)
    return summary


def validate_coco_annotations(ann_file: str,
                              img_dir: Optional[str] = None,
                              num_keypoints: Optional[int] = None,
                              check_images: str = 'header',
                              require_annotations: bool = True) -> Dict[str, int]:
    """Check a COCO-format keypoint annotation file (COCO, CrowdPose, synthetic) and its images.

    Args:
        ann_file: path of the json file.
        img_dir: directory that ``images[*].file_name`` is relative to (the dataset's
            ``data_root`` + ``data_prefix['img']``); None skips the image checks.
        num_keypoints: K expected by the dataset metainfo / model; None takes it from the
            keypoint arrays (what mmpose reads), not from ``categories[0].keypoints``.
        check_images: ``'none'``, ``'header'`` (exists, signature and end marker; fast) or
            ``'decode'`` (full decode with Pillow; slow on large datasets).
        require_annotations: False accepts a file without ``annotations``.

    Returns:
        the summary of :func:`validate_coco_data`.

    Raises:
        DatasetValidationError: the first class of problem found, listing the offending entries.
    """
    if check_images not in ('none', 'header', 'decode'):
        raise ValueError(f"check_images={check_images!r}: use 'none', 'header' or 'decode'")
    data = load_annotation_file(ann_file)
    summary = validate_coco_data(data, ann_file, num_keypoints, require_annotations)

    if img_dir is not None and check_images != 'none':
        broken = []
        for im in data['images']:
            why = check_image_file(
                osp.join(img_dir, im['file_name']), decode=check_images == 'decode')
            if why:
                broken.append(f'{osp.join(img_dir, im["file_name"])} ({why})')
        if broken:
            _fail(
                ann_file, 'images[*].file_name',
                f'{len(broken)} image(s) unusable: {_listing(broken[:_MAX_LISTED], len(broken))}',
                'restore these files (re-download / re-extract), or remove their "images" '
                'entries and annotations; check data_root and data_prefix.img if none is found.')
    return summary


def evaluation_fields_summary(data: dict) -> Dict[str, object]:
    """The ``missing_*`` entries of :func:`validate_coco_data` for an already loaded valid file."""
    summary = dict(
        num_images=len(data.get('images', [])), num_annotations=len(data.get('annotations', [])))
    found = {
        key: [_ann_name(i, a) for i, a in enumerate(data.get('annotations', [])) if key not in a]
        for key in ('area', 'iscrowd', 'num_keypoints')
    }
    found['crowdIndex'] = [
        f'images[{i}] (id={im.get("id")})' for i, im in enumerate(data.get('images', []))
        if 'crowdIndex' not in im
    ]
    for key, entries in found.items():
        summary[f'missing_{key}'] = entries[:_MAX_LISTED]
        summary[f'missing_{key}_count'] = len(entries)
    return summary


def check_coco_metric_fields(summary: Dict[str, object], ann_file: str, metric: str, use_area: bool,
                             iou_type: str) -> None:
    """Fail when a COCO keypoint evaluation would stop on a missing field of ``ann_file``.

    xtcocotools' ``COCOeval`` (and mmpose's ``CocoMetric`` when it builds the ground truth from the
    dataset) read ``iscrowd`` of every person, ``area`` with ``use_area=True`` and, for
    ``iou_type='keypoints_crowd'``, ``num_keypoints`` of every person and ``crowdIndex`` of every
    image; a missing one is a ``KeyError`` after the whole inference pass.

    Args:
        summary: the ``missing_*`` entries from :func:`validate_coco_data` or
            :func:`evaluation_fields_summary`.
        ann_file: the file that the metric evaluates against, for the message.
        metric: where the metric is configured, e.g. ``"test_evaluator (CocoMetric)"``.
        use_area: the metric's ``use_area``.
        iou_type: the metric's ``iou_type``.
    """

    def check(key, entries_of, why, fix):
        n = summary.get(f'missing_{key}_count', 0)
        if n:
            total = summary.get(f'num_{entries_of}')
            of = f' of {total}' if total is not None else ''
            first = _listing(list(summary[f'missing_{key}']), n)
            _fail(
                ann_file, f'{entries_of}[*].{key}',
                f'missing in {n}{of} {entries_of}, but {metric} {why} (it would stop with '
                f"KeyError: '{key}' after the whole inference pass). Missing in: {first}", fix)

    check(
        'iscrowd', 'annotations', 'reads it for every person',
        'add "iscrowd": 0 to every annotation (1 only for crowd regions that should be ignored).')
    if use_area:
        check(
            'area', 'annotations', 'has use_area=True, which reads it for every person',
            'add "area" (the person\'s segmentation area in pixels) to every annotation, or set '
            f'use_area=False in {metric.split(" ")[0]} (OKS then uses 0.53 * bbox width * '
            'height, as mmpose\'s CrowdPose configs do).')
    if iou_type == 'keypoints_crowd':
        check(
            'num_keypoints', 'annotations', "has iou_type='keypoints_crowd', which reads it",
            'add "num_keypoints" (the number of labelled keypoints) to every annotation, or use '
            "iou_type='keypoints' for a non-CrowdPose file.")
        check(
            'crowdIndex', 'images',
            "has iou_type='keypoints_crowd', which reads it for every image",
            'add "crowdIndex" to every image entry (CrowdPose files have it), or use '
            "iou_type='keypoints' for a non-CrowdPose file.")


def num_keypoints_of_head(head) -> Optional[int]:
    """K of a pose head: ``num_keypoints`` (DEKR/SAMKR), ``num_joints`` or ``out_channels``."""
    for attr in ('num_keypoints', 'num_joints', 'out_channels'):
        value = getattr(head, attr, None)
        if isinstance(value, int):
            return value
    return None


__all__ = [
    'DatasetValidationError', 'check_image_file', 'load_annotation_file', 'validate_coco_data',
    'validate_coco_annotations', 'evaluation_fields_summary', 'check_coco_metric_fields',
    'num_keypoints_of_head'
]
