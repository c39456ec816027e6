"""Up-front checks of COCO-style keypoint datasets, with errors that name the file, the field and the fix.

Without them a broken dataset fails late and cryptically: ``JSONDecodeError: Expecting value: line 1
column 1`` (no file name) while the dataloader is built, ``KeyError: 'images'``, a tensor size mismatch
in the loss when the keypoint count is wrong, or, worst, nothing at all: OpenCV decodes a truncated
JPEG with a grey bottom half and trains on it.
"""
import json
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional

REQUIRED_FIELDS = ('images', 'annotations', 'categories')
# How many offending entries an error message lists before summarising the rest.
_MAX_LISTED = 5


class DatasetValidationError(ValueError):
    """A dataset problem found before training; the message names the file, the field and the fix."""


def _fail(ann_file: str, field: str, problem: str, fix: str) -> None:
    raise DatasetValidationError(f'{ann_file}: {field}: {problem}\n  Fix: {fix}')


def _listing(items: List[str], total: int) -> str:
    more = f' (and {total - len(items)} more)' if total > len(items) else ''
    return '; '.join(items) + more


def check_image_file(path: str, decode: bool = False) -> Optional[str]:
    """Return why ``path`` is not a readable image, or None when it is.

    The default check is cheap enough for all of COCO (two small reads per file): the file exists, is
    not empty, starts with an image signature and, for JPEG/PNG, ends with the end-of-image marker,
    which is what a truncated download or copy lacks. ``decode=True`` additionally decodes every
    image with Pillow. A JPEG whose end marker is missing is decoded before being reported, since a few
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
    return None


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
        num_keypoints: K expected by the dataset metainfo / model; None takes it from
            ``categories[0].keypoints``.
        check_images: ``'none'``, ``'header'`` (exists, signature and end marker; fast) or
            ``'decode'`` (full decode with Pillow; slow on large datasets).

    Returns:
        dict with ``num_images``, ``num_annotations``, ``num_keypoints``, ``max_people_per_image`` and
        ``images_without_people``.

    Raises:
        DatasetValidationError: the first class of problem found, listing the offending entries.
    """
    if check_images not in ('none', 'header', 'decode'):
        raise ValueError(f"check_images={check_images!r}: use 'none', 'header' or 'decode'")
    if not osp.isfile(ann_file):
        _fail(ann_file, 'ann_file', 'the annotation file does not exist',
              'check data_root and ann_file of the dataset in your config.')
    try:
        with open(ann_file, 'rb') as f:
            data = json.loads(f.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        _fail(ann_file, '(whole file)', f'not valid JSON ({e})',
              'the file is truncated or not a COCO annotation file; download or export it again.')
    if not isinstance(data, dict):
        _fail(ann_file, '(top level)', f'expected a JSON object, got {type(data).__name__}',
              'a COCO keypoint file is an object with "images", "annotations" and "categories".')
    if not require_annotations:
        data.setdefault('annotations', [])
    missing = [k for k in REQUIRED_FIELDS if not isinstance(data.get(k), list)]
    if missing:
        _fail(ann_file, ', '.join(f'"{k}"' for k in missing),
              f'missing or not a list (top-level keys present: {sorted(data)})',
              'COCO keypoint files need "images", "annotations" and "categories" lists; convert other '
              'formats with mmpose\'s tools/dataset_converters.')

    file_k = None
    cats = data['categories']
    if cats and isinstance(cats[0], dict) and isinstance(cats[0].get('keypoints'), list):
        file_k = len(cats[0]['keypoints'])
    if num_keypoints is not None and file_k is not None and file_k != num_keypoints:
        _fail(ann_file, 'categories[0].keypoints',
              f'the file defines {file_k} keypoints but the dataset metainfo / model use {num_keypoints}',
              'use the dataset metainfo that matches this file (e.g. CrowdPose has 14 keypoints, COCO '
              '17) and the same K in the head (out_channels / num_keypoints).')
    k = num_keypoints if num_keypoints is not None else file_k

    images = data['images']
    bad = [f'images[{i}]' for i, im in enumerate(images)
           if not (isinstance(im, dict) and 'id' in im and 'file_name' in im)]
    if bad:
        _fail(ann_file, 'images[*].id / file_name', f'missing in {_listing(bad[:_MAX_LISTED], len(bad))}',
              'every image entry needs an "id" and a "file_name".')
    image_ids = {im['id'] for im in images}

    anns = data['annotations']
    people = Counter()
    bad_ref, bad_len = [], []
    for i, ann in enumerate(anns):
        if not isinstance(ann, dict) or ann.get('image_id') not in image_ids:
            bad_ref.append(f'annotations[{i}]')
            continue
        people[ann['image_id']] += 1
        kpts = ann.get('keypoints')
        if k is not None and (not isinstance(kpts, list) or len(kpts) != 3 * k):
            n = len(kpts) if isinstance(kpts, list) else type(kpts).__name__
            bad_len.append(f'annotations[{i}] (id={ann.get("id")}) has {n}')
    if bad_ref:
        _fail(ann_file, 'annotations[*].image_id',
              f'does not refer to an entry of "images" in {_listing(bad_ref[:_MAX_LISTED], len(bad_ref))}',
              'fix or drop these annotations, or add the missing images.')
    if bad_len:
        _fail(ann_file, 'annotations[*].keypoints',
              f'expected 3 * {k} = {3 * k} values ([x, y, visibility] per keypoint), but '
              f'{_listing(bad_len[:_MAX_LISTED], len(bad_len))}',
              f'write all {k} keypoints of the dataset for every person (x=y=v=0 for unlabelled ones), '
              'or use the dataset metainfo that matches the file.')

    if img_dir is not None and check_images != 'none':
        broken = []
        for im in images:
            why = check_image_file(osp.join(img_dir, im['file_name']), decode=check_images == 'decode')
            if why:
                broken.append(f'{osp.join(img_dir, im["file_name"])} ({why})')
        if broken:
            _fail(ann_file, 'images[*].file_name',
                  f'{len(broken)} image(s) unusable: {_listing(broken[:_MAX_LISTED], len(broken))}',
                  'restore these files (re-download / re-extract), or remove their "images" entries and '
                  'annotations; check data_root and data_prefix.img if none is found.')

    return dict(
        num_images=len(images),
        num_annotations=len(anns),
        num_keypoints=k if k is not None else 0,
        max_people_per_image=max(people.values(), default=0),
        images_without_people=sum(1 for i in image_ids if people[i] == 0))


def num_keypoints_of_head(head) -> Optional[int]:
    """K predicted by a pose head: ``num_keypoints`` (DEKR/SAMKR), ``num_joints`` or ``out_channels``."""
    for attr in ('num_keypoints', 'num_joints', 'out_channels'):
        value = getattr(head, attr, None)
        if isinstance(value, int):
            return value
    return None


__all__ = ['DatasetValidationError', 'check_image_file', 'validate_coco_annotations',
           'num_keypoints_of_head']
