"""Generate a small pose dataset in the exact COCO keypoint or CrowdPose json format.

Every image holds a few people drawn as articulated figures (thick limbs, filled torso, a head with
facial dots, a coloured blob on every joint), on a cluttered background. A CNN learns them in
minutes on a CPU, so the stock mmpose runners can be exercised end to end without COCO.

Layout written (what mmpose's ``CocoDataset`` / ``CrowdPoseDataset`` read)::

    OUT_DIR/annotations/train.json
    OUT_DIR/annotations/val.json
    OUT_DIR/images/{train,val}_000001.jpg ...

Annotation semantics follow COCO: ``keypoints`` is ``[x, y, v] * K`` with ``v=2`` visible, ``v=1``
labelled but occluded (by a later person or an occluding box), ``v=0`` not labelled (outside the
image, or the far ear of a turned head) with ``x=y=0``; ``bbox`` is ``[x, y, w, h]`` of the visible
body; ``area`` is its visible pixel count (the "segmentation" area); ``num_keypoints`` counts
``v>0``; ``iscrowd`` is 0. CrowdPose files use its 14 keypoints and carry ``crowdIndex`` per image.

Left limbs are blue and right limbs red, so left/right is visible in the image; that is why the
synthetic configs train without ``RandomFlip`` (a mirror would swap labels but not colours).

Python::

    from mmpose_attn.datasets.synthetic import make_dataset
    paths = make_dataset('data/synthetic', dataset='coco', train_images=8, val_images=4, seed=0)

CLI: ``python tools/synthetic_dataset.py OUT_DIR --dataset coco --train-images 200``.
"""
import importlib.util
import json
import os
import os.path as osp
import runpy
from typing import Dict, List, Tuple

import cv2
import numpy as np

# Internal joint set: the 17 COCO keypoints, then CrowdPose's head-top and neck.
JOINTS = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
    'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle', 'top_head', 'neck'
]
J = {name: i for i, name in enumerate(JOINTS)}

DATASETS = {
    'coco':
    dict(keypoints=JOINTS[:17], meta='configs/_base_/datasets/coco.py'),
    'crowdpose':
    dict(
        keypoints=[
            'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist',
            'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
            'right_ankle', 'top_head', 'neck'
        ],
        meta='configs/_base_/datasets/crowdpose.py'),
}

# BGR colours. Joints share a colour per type; left/right is carried by the limb colour.
LEFT, RIGHT, TORSO, SKIN = (215, 110, 40), (40, 70, 215), (60, 165, 60), (150, 185, 225)
JOINT_COLOURS = {
    'shoulder': (0, 215, 255),
    'elbow': (255, 255, 0),
    'wrist': (0, 255, 160),
    'hip': (255, 0, 255),
    'knee': (255, 255, 255),
    'ankle': (20, 20, 20)
}
IMAGE_SIZES = [(320, 240), (256, 256), (240, 320)]  # (w, h)


def _skeleton_1based(keypoints: List[str], meta_file: str) -> List[List[int]]:
    """The dataset's skeleton as 1-based index pairs, read from mmpose's dataset meta file."""
    # the meta file is plain python; reading it by path avoids importing torch via mmpose
    spec = importlib.util.find_spec('mmpose')
    info = runpy.run_path(osp.join(spec.submodule_search_locations[0], '.mim',
                                   meta_file))['dataset_info']
    return [[keypoints.index(a) + 1, keypoints.index(b) + 1]
            for a, b in (s['link'] for s in info['skeleton_info'].values())]


def _random_pose(rng: np.random.Generator) -> Tuple[np.ndarray, dict]:
    """Joint positions (19, 2) of a figure about 1 unit tall, hip centre at the origin, y down.

    The figure faces the camera, so its left side is at +x.
    """
    p = np.zeros((len(JOINTS), 2))
    torso = rng.uniform(0.27, 0.32)
    sw, hw = rng.uniform(0.09, 0.12), rng.uniform(0.06, 0.08)
    neck = np.array([rng.uniform(-0.03, 0.03), -torso])
    p[J['neck']] = neck
    p[J['left_shoulder']], p[J['right_shoulder']] = neck + (sw, 0.02), neck + (-sw, 0.02)
    p[J['left_hip']], p[J['right_hip']] = (hw, 0.0), (-hw, 0.0)
    r = rng.uniform(0.07, 0.085)
    head = neck + (rng.uniform(-0.02, 0.02), -0.11)
    p[J['top_head']] = head + (0, -r)
    yaw = rng.uniform(-1, 1)
    p[J['nose']] = head + (0.5 * r * yaw, 0.2 * r)
    p[J['left_eye']] = head + (0.4 * r + 0.35 * r * yaw, -0.15 * r)
    p[J['right_eye']] = head + (-0.4 * r + 0.35 * r * yaw, -0.15 * r)
    p[J['left_ear']] = head + (0.95 * r + 0.15 * r * yaw, 0.05 * r)
    p[J['right_ear']] = head + (-0.95 * r + 0.15 * r * yaw, 0.05 * r)
    # a strongly turned head hides its far ear: not labelled (v=0) and not drawn
    hidden = set()
    if yaw > 0.6:
        hidden.add(J['left_ear'])
    elif yaw < -0.6:
        hidden.add(J['right_ear'])

    def chain(root, names, lengths, a0, a1, bend):
        """Two segments from ``root``; angles from straight down, positive = outward."""
        sign = 1.0 if names[0].startswith('left') else -1.0
        a = rng.uniform(a0, a1)
        b = a + rng.uniform(-bend, bend)
        for name, length, ang in zip(names, lengths, (a, b)):
            root = root + length * np.array([sign * np.sin(ang), np.cos(ang)])
            p[J[name]] = root

    for side in ('left', 'right'):
        chain(p[J[f'{side}_shoulder']], [f'{side}_elbow', f'{side}_wrist'],
              [rng.uniform(0.15, 0.18), rng.uniform(0.14, 0.16)], -0.3, 2.2, 1.2)
        chain(p[J[f'{side}_hip']], [f'{side}_knee', f'{side}_ankle'],
              [rng.uniform(0.22, 0.25), rng.uniform(0.21, 0.24)], -0.3, 0.7, 0.6)
    return p, dict(head=head, head_r=r, hidden=hidden)


def _draw_person(canvas: np.ndarray, mask: np.ndarray, p: np.ndarray, info: dict, scale: float,
                 colours: dict) -> None:
    """Draw one figure (joint positions ``p``, pixels) on ``canvas``, its footprint on ``mask``."""

    def pt(x):
        return tuple(int(round(v)) for v in x)

    limb_t = max(2, int(round(0.075 * scale)))
    blob_r = max(2, int(round(0.045 * scale)))
    for img, white in ((canvas, False), (mask, True)):

        def col(c):
            return 255 if white else c

        # the silhouette extends beyond the shoulder and hip joints, as a body does
        torso = np.array(
            [p[J['left_shoulder']], p[J['right_shoulder']], p[J['right_hip']], p[J['left_hip']]])
        centre = torso.mean(0)
        torso = centre + (torso - centre) * 1.2
        cv2.fillPoly(img, [np.round(torso).astype(np.int32)], col(colours['torso']))
        cv2.line(img, pt(p[J['neck']]), pt(info['head']), col(colours['torso']), limb_t)
        for side in ('left', 'right'):
            c = col(colours[side])
            for a, b in (('shoulder', 'elbow'), ('elbow', 'wrist'), ('hip', 'knee'), ('knee',
                                                                                      'ankle')):
                cv2.line(img, pt(p[J[f'{side}_{a}']]), pt(p[J[f'{side}_{b}']]), c, limb_t)
        cv2.circle(img, pt(info['head']), max(3, int(round(info['head_r'] * scale))),
                   col(colours['skin']), -1)
        for name in JOINTS[5:17]:
            cv2.circle(img, pt(p[J[name]]), blob_r, col(JOINT_COLOURS[name.split('_')[1]]), -1)
        if white:
            continue
        dot = max(1, blob_r // 2)
        cv2.circle(img, pt(p[J['nose']]), dot, (30, 30, 30), -1)
        cv2.circle(img, pt(p[J['left_eye']]), dot, LEFT, -1)
        cv2.circle(img, pt(p[J['right_eye']]), dot, RIGHT, -1)
        for name, c in (('left_ear', LEFT), ('right_ear', RIGHT)):
            if J[name] not in info['hidden']:
                cv2.circle(img, pt(p[J[name]]), dot + 1, c, -1)
                cv2.circle(img, pt(p[J[name]]), dot + 1, (0, 0, 0), 1)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    base = rng.uniform(60, 200, size=3)
    grad = np.linspace(-30, 30, h)[:, None, None] * rng.uniform(-1, 1)
    img = np.clip(base + grad + rng.normal(0, 8, size=(h, w, 3)), 0, 255).astype(np.uint8)
    for _ in range(rng.integers(3, 7)):  # clutter in muted colours
        c = tuple(int(v) for v in rng.uniform(40, 220, size=3))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(-80, 80)), y0 + int(rng.integers(-80, 80))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(img, (x0, y0), (x1, y1), c, -1)
        elif kind == 1:
            cv2.ellipse(img, (x0, y0), (int(rng.integers(5, 40)), int(rng.integers(5, 40))),
                        float(rng.uniform(0, 180)), 0, 360, c, -1)
        else:
            cv2.line(img, (x0, y0), (x1, y1), c, int(rng.integers(1, 4)))
    return img


def _jitter(rng: np.random.Generator, c: tuple, amount: int = 25) -> tuple:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in c)


def _render_image(rng: np.random.Generator, w: int, h: int) -> Tuple[np.ndarray, List[dict]]:
    """One image and its people: list of dict(kpts (19, 2), vis (19,) in {0,1,2}, mask)."""
    img = _background(rng, w, h)
    n_people = int(rng.choice([1, 2, 3, 4], p=[0.25, 0.35, 0.25, 0.15]))
    max_overlap = float(rng.choice([0.05, 0.3, 0.6]))  # how crowded this image may be
    people: List[dict] = []
    for _ in range(n_people):
        for _attempt in range(20):
            pose, info = _random_pose(rng)
            scale = rng.uniform(0.35, 0.85) * min(w, h)
            ang = rng.normal(0, 0.12) if rng.random() > 0.05 else rng.uniform(-0.8, 0.8)
            rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
            centre = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.15, 0.85) * h])
            offset = centre - (rot @ np.array([0.0, -0.1])) * scale
            kpts = pose @ rot.T * scale + offset
            info = dict(info, head=rot @ info['head'] * scale + offset)
            mask = np.zeros((h, w), np.uint8)
            layer = img.copy()
            colours = dict(
                left=_jitter(rng, LEFT),
                right=_jitter(rng, RIGHT),
                torso=_jitter(rng, TORSO),
                skin=_jitter(rng, SKIN))
            _draw_person(layer, mask, kpts, info, scale, colours)
            mask = mask > 0
            if not _acceptable(people, mask, max_overlap):
                continue
            img[mask] = layer[mask]
            for other in people:
                other['visible_mask'] &= ~mask
            people.append(
                dict(
                    kpts=kpts,
                    hidden=info['hidden'],
                    mask=mask,
                    visible_mask=mask.copy(),
                    scale=scale))
            break
    # occluding boxes over a joint of some people, drawn last
    occluder = np.zeros((h, w), bool)
    for person in people:
        if rng.random() < 0.15:
            x, y = person['kpts'][rng.integers(5, 17)]
            half = rng.uniform(0.06, 0.12) * person['scale']
            box = np.zeros((h, w), np.uint8)
            cv2.rectangle(box, (int(x - half), int(y - half)), (int(x + half), int(y + half)), 255,
                          -1)
            box = box > 0
            if all((p['visible_mask'] & ~box).sum() > 0.5 * p['mask'].sum() for p in people):
                img[box] = _jitter(rng, (128, 128, 128), 60)
                occluder |= box
                for p in people:
                    p['visible_mask'] &= ~box
    # visibility: outside the image or hidden -> 0; under a later person or a box -> 1; else 2
    for i, person in enumerate(people):
        later = occluder.copy()
        for other in people[i + 1:]:
            later |= other['mask']
        vis = np.full(len(JOINTS), 2, np.int64)
        for j, (x, y) in enumerate(person['kpts']):
            if j in person['hidden'] or not (0 <= x < w and 0 <= y < h):
                vis[j] = 0
            elif later[int(y), int(x)]:
                vis[j] = 1
        person['vis'] = vis
    return img, people


def _acceptable(people: List[dict], mask: np.ndarray, max_overlap: float) -> bool:
    """A new person must be mostly in the image and leave everyone mostly visible."""
    area = mask.sum()
    if area < 150:
        return False
    for other in people:
        inter = (other['visible_mask'] & mask).sum()
        if inter > max_overlap * other['mask'].sum() or inter > 0.5 * area:
            return False
    return True


def _crowd_index(boxes: List[List[float]], kpts: List[np.ndarray]) -> float:
    """CrowdPose's crowd index: mean over people of (others' joints in my box) / (mine in it)."""
    ratios = []
    for i, (x, y, bw, bh) in enumerate(boxes):

        def inside(k):
            lab = k[:, 2] > 0
            return int((lab & (k[:, 0] >= x) & (k[:, 0] <= x + bw) & (k[:, 1] >= y) &
                        (k[:, 1] <= y + bh)).sum())

        own = inside(kpts[i])
        if own:
            ratios.append(sum(inside(k) for j, k in enumerate(kpts) if j != i) / own)
    return round(float(np.mean(ratios)), 2) if ratios else 0.0


def _write_split(out_dir: str, split: str, num_images: int, dataset: str, rng: np.random.Generator,
                 categories: list) -> str:
    names = DATASETS[dataset]['keypoints']
    index = [J[n] for n in names]
    images, annotations = [], []
    for img_id in range(1, num_images + 1):
        w, h = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
        img, people = _render_image(rng, w, h)
        file_name = f'{split}_{img_id:06d}.jpg'
        cv2.imwrite(osp.join(out_dir, 'images', file_name), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        boxes, kpt_list = [], []
        for person in people:
            vm = person['visible_mask']
            ys, xs = np.nonzero(vm)
            vis = person['vis'][index]
            if vis.sum() == 0 or len(xs) == 0:
                continue
            xy = np.where(vis[:, None] > 0, person['kpts'][index], 0.0)
            kpts = np.concatenate([np.round(xy, 2), vis[:, None]], axis=1)
            bbox = [
                float(xs.min()),
                float(ys.min()),
                float(xs.max() - xs.min() + 1),
                float(ys.max() - ys.min() + 1)
            ]
            boxes.append(bbox)
            kpt_list.append(kpts)
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=1,
                    iscrowd=0,
                    bbox=bbox,
                    area=float(vm.sum()),
                    num_keypoints=int((vis > 0).sum()),
                    keypoints=[
                        float(v) if k % 3 < 2 else int(v)
                        for k, v in enumerate(kpts.reshape(-1).tolist())
                    ],
                    segmentation=[]))
        image = dict(id=img_id, file_name=file_name, width=w, height=h)
        if dataset == 'crowdpose':
            image['crowdIndex'] = _crowd_index(boxes, kpt_list)
        images.append(image)
    ann_file = osp.join(out_dir, 'annotations', f'{split}.json')
    with open(ann_file, 'w') as f:
        json.dump(
            dict(
                info=dict(description=f'mmpose_attn synthetic {dataset}-format pose data'),
                licenses=[],
                images=images,
                annotations=annotations,
                categories=categories), f)
    return ann_file


def make_dataset(out_dir: str,
                 dataset: str = 'coco',
                 train_images: int = 8,
                 val_images: int = 4,
                 seed: int = 0) -> Dict[str, str]:
    """Write a synthetic pose dataset and return its paths.

    Args:
        out_dir: output root; ``annotations/{train,val}.json`` and ``images/`` are written there.
        dataset: ``'coco'`` (17 keypoints) or ``'crowdpose'`` (14 keypoints, ``crowdIndex``).
        train_images, val_images: number of images per split (0 is allowed).
        seed: the same seed writes byte-identical annotations and images.

    Returns:
        dict with ``data_root``, ``train_ann``, ``val_ann`` (json paths) and ``img_dir``; use
        ``data_root`` with ``ann_file='annotations/train.json'`` and
        ``data_prefix=dict(img='images/')``.
    """
    if dataset not in DATASETS:
        raise ValueError(f'dataset={dataset!r}: choose one of {sorted(DATASETS)}')
    if train_images < 0 or val_images < 0:
        raise ValueError('train_images and val_images must be >= 0')
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    names = DATASETS[dataset]['keypoints']
    categories = [
        dict(
            supercategory='person',
            id=1,
            name='person',
            keypoints=names,
            skeleton=_skeleton_1based(names, DATASETS[dataset]['meta']))
    ]
    # independent streams so the val split does not change with --train-images
    train_rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    return dict(
        data_root=out_dir,
        train_ann=_write_split(out_dir, 'train', train_images, dataset, train_rng, categories),
        val_ann=_write_split(out_dir, 'val', val_images, dataset, val_rng, categories),
        img_dir=osp.join(out_dir, 'images'))
