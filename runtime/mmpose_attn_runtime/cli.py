"""``python -m mmpose_attn_runtime INPUT --model FILE --out DIR``: poses of an image, a folder of
images or a video, written as our demos' ``--save-predictions`` JSON (``results_<name>.json``
with ``meta_info`` and ``instance_info``) plus drawings."""
import argparse
import json
import mimetypes
import os
import os.path as osp
import sys
import tempfile
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from .draw import draw
from .estimators import BottomUp, TopDown
from .model_file import KEY, check_file, onnx_metadata_props, parse_metadata


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog='python -m mmpose_attn_runtime', description=__doc__)
    p.add_argument('input', help='an image, a folder of images (searched recursively) or a video')
    p.add_argument(
        '--model',
        required=True,
        help='.onnx written by '
        'tools/deployment/export_onnx.py, or an OpenVINO .xml')
    p.add_argument('--out', required=True, help='output folder (JSON and drawings)')
    p.add_argument(
        '--backend',
        choices=('onnxruntime', 'openvino'),
        default=None,
        help='default: openvino for an .xml, else onnxruntime')
    p.add_argument('--threads', type=int, default=None, help='engine threads (default: its own)')
    p.add_argument(
        '--batch-size',
        type=int,
        default=8,
        help='top-down: crops per network call (across images); bottom-up: images '
        'of one size per call')
    p.add_argument(
        '--bbox-file',
        help='top-down: person boxes, a COCO detection-result json '
        '(default: the whole image is one box)')
    p.add_argument(
        '--ann-file',
        help='COCO annotation json mapping image files to the image_id '
        'of --bbox-file (without it, files must be named by their id: 000000000785.jpg)')
    p.add_argument(
        '--bbox-thr',
        type=float,
        default=0.3,
        help='top-down: keep boxes scoring above this (as our demos)')
    p.add_argument('--kpt-thr', type=float, default=0.3, help='drawing: keypoint score threshold')
    p.add_argument('--radius', type=int, default=3)
    p.add_argument('--thickness', type=int, default=1)
    p.add_argument('--no-draw', action='store_true', help='write the JSON only')
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- inputs
def input_kind(path: str) -> str:
    if not osp.exists(path):
        raise FileNotFoundError(f'input {path!r} does not exist: pass an image, a video or a '
                                'folder of images')
    if osp.isdir(path):
        return 'folder'
    mime = (mimetypes.guess_type(path)[0] or '').split('/')[0]
    if mime not in ('image', 'video'):
        raise ValueError(f'input {path!r} is neither an image nor a video (by its extension)')
    return mime


def list_images(folder: str) -> List[str]:
    images = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith('.')]
        images += [
            osp.join(dirpath, n) for n in filenames
            if (mimetypes.guess_type(n)[0] or '').startswith('image/') and not n.startswith('.')
        ]
    if not images:
        raise ValueError(f'folder {folder!r} contains no image files (.jpg, .png, ...)')
    return sorted(images, key=lambda p: osp.relpath(p, folder).split(os.sep))


def read_image(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'cannot read image {path!r}: not a decodable image')
    return img


# ------------------------------------------------------------------------- detections
class Detections:
    """Person boxes (category 1) of a COCO detection-result json, by image file."""

    def __init__(self, bbox_file: str, ann_file: Optional[str] = None):
        with open(bbox_file) as f:
            dets = json.load(f)
        if not isinstance(dets, list):
            raise ValueError(f'--bbox-file {bbox_file} must hold a COCO detection-result list '
                             '[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]')
        self.bbox_file = bbox_file
        boxes = defaultdict(list)
        for i, d in enumerate(dets):
            missing = {'image_id', 'bbox', 'score'} - set(d)
            if missing:
                raise ValueError(f'--bbox-file {bbox_file}: entry {i} lacks {sorted(missing)}')
            if d.get('category_id', 1) != 1:
                continue
            x, y, w, h = d['bbox']
            boxes[int(d['image_id'])].append([x, y, x + w, y + h, d['score']])
        self.boxes = {k: np.asarray(v, dtype=np.float32) for k, v in boxes.items()}
        self.by_name = None
        if ann_file:
            with open(ann_file) as f:
                images = json.load(f).get('images')
            if not isinstance(images, list):
                raise ValueError(f'--ann-file {ann_file} has no "images" list')
            self.by_name = defaultdict(list)
            for im in images:
                parts = _parts(im['file_name'])
                self.by_name[parts[-1]].append((parts, int(im['id'])))

    def image_id(self, path: str) -> int:
        if self.by_name is None:
            stem = osp.splitext(osp.basename(path))[0]
            if not stem.isdigit():
                raise ValueError(f'cannot tell the COCO image_id of {path!r} for --bbox-file: '
                                 'name the image by its id (000000000785.jpg) or pass --ann-file')
            return int(stem)
        parts = _parts(osp.abspath(path))
        cands = self.by_name.get(parts[-1], [])

        def common(c):
            n = 0
            while n < min(len(c), len(parts)) and c[-1 - n] == parts[-1 - n]:
                n += 1
            return n

        if not cands:
            raise ValueError(f'{path!r} is not among the images of --ann-file')
        best = max(common(c) for c, _ in cands)
        ids = {i for c, i in cands if common(c) == best}
        if len(ids) > 1:
            raise ValueError(f'{path!r} matches several --ann-file images equally well')
        return ids.pop()

    def of(self, path: str, bbox_thr: float) -> np.ndarray:
        boxes = self.boxes.get(self.image_id(path), np.zeros((0, 5), np.float32))
        return boxes[boxes[:, 4] > bbox_thr]


def _parts(path: str) -> List[str]:
    return [p for p in osp.normpath(path).replace('\\', '/').split('/') if p not in ('', '.')]


# ----------------------------------------------------------------------------- outputs
def meta_info(meta: dict) -> dict:
    """The ``meta_info`` of the demos' JSON (mmpose's dataset_meta keys the model file carries;
    ``sigmas`` as json_tricks writes a numpy array)."""
    data = meta.get('dataset') or {}
    names = list(data.get('keypoint_names') or [])
    info = dict(
        dataset_name=data.get('name'),
        num_keypoints=len(names),
        keypoint_id2name={
            str(i): n
            for i, n in enumerate(names)
        },
        keypoint_name2id={
            n: i
            for i, n in enumerate(names)
        },
        flip_indices=list(data.get('flip_indices') or []),
        skeleton_links=[list(s) for s in data.get('skeleton') or []])
    if data.get('sigmas'):
        sig = list(data['sigmas'])
        info['sigmas'] = {'__ndarray__': sig, 'dtype': 'float32', 'shape': [len(sig)]}
    return info


def instance_info(keypoints, scores, boxes=None) -> List[dict]:
    """One dict per person as mmpose's ``split_instances``."""
    out = []
    for i in range(len(keypoints)):
        inst = dict(keypoints=keypoints[i].tolist(), keypoint_scores=scores[i].tolist())
        if boxes is not None:
            inst['bbox'] = [np.asarray(boxes[i][:4], dtype=np.float32).tolist()]
            inst['bbox_score'] = float(boxes[i][4]) if len(boxes[i]) > 4 else 1.0
        out.append(inst)
    return out


def write_json(path: str, obj) -> None:
    _atomic(path, lambda tmp: _dump(tmp, obj))


def _dump(tmp, obj):
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent='\t')


def write_image(path: str, img: np.ndarray) -> None:
    ext = osp.splitext(path)[1] or '.jpg'

    def save(tmp):
        ok, buf = cv2.imencode(ext, img)
        if not ok:
            raise ValueError(f'cannot encode {path}')
        with open(tmp, 'wb') as f:
            f.write(buf.tobytes())

    _atomic(path, save)


def _atomic(path: str, write) -> None:
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(path) or '.', prefix='.tmp_')
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def result_names(rels: Sequence[str]) -> List[str]:
    """``results_<stem>.json`` beside each input's relative path, as our demos name them; inputs
    of one folder with the same stem (``x.jpg``, ``x.png``) keep their extension instead."""
    count: Dict[tuple, int] = defaultdict(int)
    for rel in rels:
        count[(osp.dirname(rel), osp.splitext(osp.basename(rel))[0])] += 1
    names = []
    for rel in rels:
        folder, base = osp.split(rel)
        stem = osp.splitext(base)[0]
        names.append(
            osp.join(
                folder,
                f'results_{stem}.json' if count[(folder, stem)] == 1 else f'results_{base}.json'))
    return names


# --------------------------------------------------------------------------------- run
class Runner:

    def __init__(self, args):
        kind = check_file(args.model)
        backend = args.backend or ('openvino' if kind == 'openvino' else 'onnxruntime')
        # the kind picks the class; the class's load checks the file's integrity
        file_kind = (
            parse_metadata(args.model,
                           onnx_metadata_props(args.model).get(KEY))['kind']
            if kind == 'onnx' else None)
        cls = BottomUp if file_kind == 'bottomup' else TopDown
        try:
            self.model = cls(args.model, backend, args.threads, args.batch_size)
        except ValueError as e:  # an OpenVINO .xml says its kind only once loaded
            if kind == 'openvino' and 'use BottomUp' in str(e):
                self.model = BottomUp(args.model, backend, args.threads, args.batch_size)
            else:
                raise
        self.args = args
        self.topdown = isinstance(self.model, TopDown)
        self.dets = Detections(args.bbox_file, args.ann_file) if args.bbox_file else None
        if self.dets is not None and not self.topdown:
            raise ValueError('--bbox-file is for top-down models; this one is bottom-up')
        self.meta_info = meta_info(self.model.meta)
        self.skipped: List[str] = []

    def boxes(self, img: np.ndarray, path: Optional[str]) -> np.ndarray:
        if self.dets is not None:
            return self.dets.of(path, self.args.bbox_thr)
        h, w = img.shape[:2]
        return np.array([[0, 0, w, h, 1.0]], dtype=np.float32)

    def predict(self, imgs: Sequence[np.ndarray], paths: Sequence[Optional[str]]):
        if self.topdown:
            boxes = [self.boxes(img, p) for img, p in zip(imgs, paths)]
            return [(k, s, b) for (k, s), b in zip(self.model.batch(imgs, boxes), boxes)]
        return [(k, s, None) for k, s in self.model.batch(imgs)]

    def drawing(self, img, kpts, scores, boxes):
        return draw(img, kpts, scores, self.model.skeleton, self.args.kpt_thr, self.args.radius,
                    self.args.thickness, boxes)

    def images(self, paths: List[str], root: Optional[str]) -> List[str]:
        written = []
        rels = [osp.relpath(p, root) if root else osp.basename(p) for p in paths]
        names = dict(zip(paths, result_names(rels)))
        step = max(1, self.args.batch_size)  # images per call (top-down: their crops batched)
        for start in range(0, len(paths), step):
            chunk, imgs = [], []
            for p in paths[start:start + step]:
                try:
                    imgs.append(read_image(p))
                    chunk.append(p)
                except ValueError as e:  # as our demos: skip it, say so, go on
                    self.skipped.append(p)
                    print(f'skipping {e}', file=sys.stderr)
            for p, img, (k, s, b) in zip(chunk, imgs, self.predict(imgs, chunk)):
                rel = osp.relpath(p, root) if root else osp.basename(p)
                out = osp.join(self.args.out, names[p])
                write_json(out,
                           dict(meta_info=self.meta_info, instance_info=instance_info(k, s, b)))
                written.append(out)
                if not self.args.no_draw:
                    vis = osp.join(self.args.out, rel)
                    write_image(vis, self.drawing(img, k, s, b))
                    written.append(vis)
        return written

    def video(self, path: str) -> List[str]:
        if self.dets is not None:
            raise ValueError('--bbox-file matches images by id; for a video, run without it '
                             '(each frame is one box) or pass its frames as a folder of images')
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise ValueError(f'cannot open video {path!r}: OpenCV cannot decode it')
        fps = cap.get(cv2.CAP_PROP_FPS) or 25
        stem = osp.splitext(osp.basename(path))[0]
        vis_path = osp.join(self.args.out, f'{stem}.mp4')
        writer, tmp_vis, frames = None, None, []
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                k, s, b = self.predict([frame], [None])[0]
                frames.append(dict(frame_id=len(frames) + 1, instances=instance_info(k, s, b)))
                if self.args.no_draw:
                    continue
                if writer is None:
                    fd, tmp_vis = tempfile.mkstemp(dir=self.args.out, prefix='.tmp_', suffix='.mp4')
                    os.close(fd)
                    writer = cv2.VideoWriter(tmp_vis, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                             (frame.shape[1], frame.shape[0]))
                writer.write(self.drawing(frame, k, s, b))
        finally:
            cap.release()
            if writer is not None:
                writer.release()
        if not frames:
            if tmp_vis and osp.exists(tmp_vis):
                os.remove(tmp_vis)
            raise ValueError(f'cannot read any frame of video {path!r}; re-encode it')
        out = osp.join(self.args.out, f'results_{stem}.json')
        write_json(out, dict(meta_info=self.meta_info, instance_info=frames))
        written = [out]
        if tmp_vis:
            os.replace(tmp_vis, vis_path)
            written.append(vis_path)
        return written


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        kind = input_kind(args.input)
        os.makedirs(args.out, exist_ok=True)
        runner = Runner(args)
        if kind == 'video':
            written = runner.video(args.input)
        elif kind == 'folder':
            written = runner.images(list_images(args.input), args.input)
        else:
            written = runner.images([args.input], None)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for path in written:
        print(f'saved {path}')
    if runner.skipped:
        print(
            f'{len(runner.skipped)} unreadable image(s) skipped: {", ".join(runner.skipped)}',
            file=sys.stderr)
    return 0
