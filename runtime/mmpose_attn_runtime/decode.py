"""mmpose 1.3.2's test-time decoding, restated in numpy (each function names its original).

Heatmap codecs (``MSRAHeatmap`` with and without DARK, ``UDPHeatmap``), the flip-test merge
(``flip_heatmaps``), and DEKR's bottom-up decoding (``SPR.decode``, ``DEKRHead.decode``'s pose NMS
``nearby_joints_nms``). The arithmetic follows mmpose's step by step and dtype by dtype, so the
results equal mmpose's up to float rounding.
"""
from itertools import product
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np


# ------------------------------------------------------------------------ heatmap utilities
def get_heatmap_maximum(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """mmpose.codecs.utils.get_heatmap_maximum: (K, H, W) or (B, K, H, W) -> locations (.., K, 2)
    (x, y; -1 where the maximum is <= 0) and values (.., K)."""
    if heatmaps.ndim == 3:
        K, H, W = heatmaps.shape
        B = None
        flat = heatmaps.reshape(K, -1)
    else:
        B, K, H, W = heatmaps.shape
        flat = heatmaps.reshape(B * K, -1)
    y_locs, x_locs = np.unravel_index(np.argmax(flat, axis=1), shape=(H, W))
    locs = np.stack((x_locs, y_locs), axis=-1).astype(np.float32)
    vals = np.amax(flat, axis=1)
    locs[vals <= 0.] = -1
    if B:
        locs = locs.reshape(B, K, 2)
        vals = vals.reshape(B, K)
    return locs, vals


def gaussian_blur(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """mmpose.codecs.utils.gaussian_blur: each (H, W) map blurred with zero padding and rescaled
    to its original maximum, in place."""
    assert kernel % 2 == 1
    border = (kernel - 1) // 2
    K, H, W = heatmaps.shape
    for k in range(K):
        origin_max = np.max(heatmaps[k])
        dr = np.zeros((H + 2 * border, W + 2 * border), dtype=np.float32)
        dr[border:-border, border:-border] = heatmaps[k].copy()
        dr = cv2.GaussianBlur(dr, (kernel, kernel), 0)
        heatmaps[k] = dr[border:-border, border:-border].copy()
        heatmaps[k] *= origin_max / np.max(heatmaps[k])
    return heatmaps


def refine_keypoints(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """mmpose.codecs.utils.refine_keypoints: a quarter pixel towards the higher neighbour."""
    N, K = keypoints.shape[:2]
    H, W = heatmaps.shape[1:]
    for n, k in product(range(N), range(K)):
        x, y = keypoints[n, k, :2].astype(int)
        if 1 < x < W - 1 and 0 < y < H:
            dx = heatmaps[k, y, x + 1] - heatmaps[k, y, x - 1]
        else:
            dx = 0.
        if 1 < y < H - 1 and 0 < x < W:
            dy = heatmaps[k, y + 1, x] - heatmaps[k, y - 1, x]
        else:
            dy = 0.
        keypoints[n, k] += np.sign([dx, dy], dtype=np.float32) * 0.25
    return keypoints


def refine_keypoints_dark(keypoints: np.ndarray, heatmaps: np.ndarray,
                          blur_kernel_size: int) -> np.ndarray:
    """mmpose.codecs.utils.refine_keypoints_dark: DARK's Taylor step on the blurred log map."""
    N, K = keypoints.shape[:2]
    H, W = heatmaps.shape[1:]
    heatmaps = gaussian_blur(heatmaps, blur_kernel_size)
    np.maximum(heatmaps, 1e-10, heatmaps)
    np.log(heatmaps, heatmaps)
    for n, k in product(range(N), range(K)):
        x, y = keypoints[n, k, :2].astype(int)
        if 1 < x < W - 2 and 1 < y < H - 2:
            dx = 0.5 * (heatmaps[k, y, x + 1] - heatmaps[k, y, x - 1])
            dy = 0.5 * (heatmaps[k, y + 1, x] - heatmaps[k, y - 1, x])
            dxx = 0.25 * (heatmaps[k, y, x + 2] - 2 * heatmaps[k, y, x] + heatmaps[k, y, x - 2])
            dxy = 0.25 * (
                heatmaps[k, y + 1, x + 1] - heatmaps[k, y - 1, x + 1] - heatmaps[k, y + 1, x - 1] +
                heatmaps[k, y - 1, x - 1])
            dyy = 0.25 * (heatmaps[k, y + 2, x] - 2 * heatmaps[k, y, x] + heatmaps[k, y - 2, x])
            derivative = np.array([[dx], [dy]])
            hessian = np.array([[dxx, dxy], [dxy, dyy]])
            if dxx * dyy - dxy**2 != 0:
                offset = -np.linalg.inv(hessian) @ derivative
                keypoints[n, k, :2] += np.squeeze(np.array(offset.T), axis=0)
    return keypoints


def refine_keypoints_dark_udp(keypoints: np.ndarray, heatmaps: np.ndarray,
                              blur_kernel_size: int) -> np.ndarray:
    """mmpose.codecs.utils.refine_keypoints_dark_udp: UDP's DARK variant."""
    N, K = keypoints.shape[:2]
    H, W = heatmaps.shape[1:]
    heatmaps = gaussian_blur(heatmaps, blur_kernel_size)
    np.clip(heatmaps, 1e-3, 50., heatmaps)
    np.log(heatmaps, heatmaps)
    pad = np.pad(heatmaps, ((0, 0), (1, 1), (1, 1)), mode='edge').flatten()
    for n in range(N):
        index = keypoints[n, :, 0] + 1 + (keypoints[n, :, 1] + 1) * (W + 2)
        index += (W + 2) * (H + 2) * np.arange(0, K)
        index = index.astype(int).reshape(-1, 1)
        i_ = pad[index]
        ix1 = pad[index + 1]
        iy1 = pad[index + W + 2]
        ix1y1 = pad[index + W + 3]
        ix1_y1_ = pad[index - W - 3]
        ix1_ = pad[index - 1]
        iy1_ = pad[index - 2 - W]
        dx = 0.5 * (ix1 - ix1_)
        dy = 0.5 * (iy1 - iy1_)
        derivative = np.concatenate([dx, dy], axis=1).reshape(K, 2, 1)
        dxx = ix1 - 2 * i_ + ix1_
        dyy = iy1 - 2 * i_ + iy1_
        dxy = 0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
        hessian = np.concatenate([dxx, dxy, dxy, dyy], axis=1).reshape(K, 2, 2)
        hessian = np.linalg.inv(hessian + np.finfo(np.float32).eps * np.eye(2))
        keypoints[n] -= np.einsum('imn,ink->imk', hessian, derivative).squeeze()
    return keypoints


# ------------------------------------------------------------------------------ codecs
class HeatmapCodec:
    """The decoder of a top-down heatmap codec: ``MSRAHeatmap`` (``unbiased``: DARK) or
    ``UDPHeatmap`` (``heatmap_type='gaussian'``), from its config dict.

    ``decode(heatmaps (K, h, w))`` returns keypoints (1, K, 2) in input (crop) pixels and scores
    (1, K), as the codec's ``decode``.
    """

    SUPPORTED = ('MSRAHeatmap', 'UDPHeatmap')

    def __init__(self, cfg: dict):
        self.type = cfg.get('type')
        if self.type not in self.SUPPORTED:
            raise ValueError(f'codec {self.type!r} is not supported by the runtime (it decodes '
                             f'{", ".join(self.SUPPORTED)})')
        if self.type == 'UDPHeatmap' and cfg.get('heatmap_type', 'gaussian') != 'gaussian':
            raise ValueError('UDPHeatmap with heatmap_type='
                             f'{cfg.get("heatmap_type")!r} is not supported (gaussian only)')
        self.input_size = tuple(cfg['input_size'])
        self.heatmap_size = tuple(cfg['heatmap_size'])
        self.unbiased = bool(cfg.get('unbiased', False))
        self.blur_kernel_size = int(cfg.get('blur_kernel_size', 11))
        self.scale_factor = (np.array(self.input_size) / self.heatmap_size).astype(np.float32)

    def decode(self, encoded: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        heatmaps = encoded.copy()
        keypoints, scores = get_heatmap_maximum(heatmaps)
        keypoints, scores = keypoints[None], scores[None]
        if self.type == 'UDPHeatmap':
            keypoints = refine_keypoints_dark_udp(keypoints, heatmaps, self.blur_kernel_size)
            W, H = self.heatmap_size
            return keypoints / [W - 1, H - 1] * self.input_size, scores
        if self.unbiased:
            keypoints = refine_keypoints_dark(keypoints, heatmaps, self.blur_kernel_size)
        else:
            keypoints = refine_keypoints(keypoints, heatmaps)
        return keypoints * self.scale_factor, scores


def flip_heatmaps(heatmaps: np.ndarray,
                  flip_indices: Optional[Sequence[int]] = None,
                  flip_mode: str = 'heatmap',
                  shift_heatmap: bool = True) -> np.ndarray:
    """mmpose.models.utils.tta.flip_heatmaps on (B, C, H, W) arrays (a new array)."""
    B, C, H, W = heatmaps.shape
    if flip_mode == 'heatmap':
        heatmaps = heatmaps[..., ::-1]
        if flip_indices is not None:
            assert len(flip_indices) == C
            heatmaps = heatmaps[:, list(flip_indices)]
    elif flip_mode in ('offset', 'udp_combined'):
        group, neg = (2, 0) if flip_mode == 'offset' else (3, 1)
        heatmaps = heatmaps.reshape(B, C // group, -1, H, W)[..., ::-1]
        if flip_indices is not None:
            assert len(flip_indices) == C // group
            heatmaps = heatmaps[:, list(flip_indices)]
        heatmaps = heatmaps.copy()
        heatmaps[:, :, neg] = -heatmaps[:, :, neg]
        heatmaps = heatmaps.reshape(B, C, H, W)
    else:
        raise ValueError(f'Invalid flip_mode value "{flip_mode}"')
    heatmaps = np.ascontiguousarray(heatmaps)
    if shift_heatmap:
        heatmaps[..., 1:] = heatmaps[..., :-1].copy()
    return heatmaps


# --------------------------------------------------------------------------- bottom-up
def heatmap_nms(heatmaps: np.ndarray, kernel_size: int = 5) -> np.ndarray:
    """mmpose.codecs.utils.batch_heatmap_nms on (..., H, W): values that are not the maximum of
    their kernel_size window (``max_pool2d``, stride 1, -inf padding) set to 0."""
    assert kernel_size % 2 == 1
    pad = (kernel_size - 1) // 2
    lead = [(0, 0)] * (heatmaps.ndim - 2)
    padded = np.pad(heatmaps, lead + [(pad, pad), (pad, pad)], constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(
        padded, (kernel_size, kernel_size), axis=(-2, -1))
    maximum = windows.max(axis=(-2, -1))
    return heatmaps * (heatmaps == maximum).astype(heatmaps.dtype)


def grid_sample_border(maps: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear values of maps (C, h, w) at (C, N, 2) pixel points, as ``SPR.get_keypoint_scores``
    samples them: torch ``grid_sample`` (align_corners=False, padding 'border') of the points
    normalised by (size - 1). Returns (C, N)."""
    c, h, w = maps.shape
    f32 = np.float32
    gx = points[..., 0] / f32(w - 1) * f32(2) - f32(1)
    gy = points[..., 1] / f32(h - 1) * f32(2) - f32(1)
    ix = np.clip(((gx + f32(1)) * f32(w) - f32(1)) / f32(2), 0, w - 1).astype(f32)
    iy = np.clip(((gy + f32(1)) * f32(h) - f32(1)) / f32(2), 0, h - 1).astype(f32)
    x0, y0 = np.floor(ix), np.floor(iy)
    x1, y1 = x0 + 1, y0 + 1
    out = np.zeros(ix.shape, dtype=f32)
    ch = np.arange(c)[:, None]
    for xs, ys, weight in ((x0, y0, (x1 - ix) * (y1 - iy)), (x1, y0, (ix - x0) * (y1 - iy)),
                           (x0, y1, (x1 - ix) * (iy - y0)), (x1, y1, (ix - x0) * (iy - y0))):
        inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
        xi = np.clip(xs, 0, w - 1).astype(int)
        yi = np.clip(ys, 0, h - 1).astype(int)
        out += np.where(inside, maps[ch, yi, xi] * weight, f32(0))
    return out


class SPRCodec:
    """The decoder of mmpose's ``SPR`` codec (DEKR): poses from the root heatmap's peaks and the
    displacement fields, keypoint scores from the keypoint heatmaps.

    ``decode(heatmaps (K+1, h, w), displacements (2K, h, w))`` returns keypoints (N, K, 2) in
    input pixels, root scores (N,) and keypoint scores (N, K) (``None`` without keypoint
    heatmaps), as ``SPR.decode``.
    """

    def __init__(self, cfg: dict):
        if cfg.get('type') != 'SPR':
            raise ValueError(f'bottom-up codec {cfg.get("type")!r} is not supported by the '
                             'runtime (it decodes SPR: DEKR, SAMKR)')
        self.input_size = tuple(cfg['input_size'])
        self.heatmap_size = tuple(cfg['heatmap_size'])
        self.generate_keypoint_heatmaps = bool(cfg.get('generate_keypoint_heatmaps', False))
        self.decode_nms_kernel = int(cfg.get('decode_nms_kernel', 5))
        self.decode_max_instances = int(cfg.get('decode_max_instances', 30))
        self.decode_thr = float(cfg.get('decode_thr', 0.01))
        self.scale_factor = (np.array(self.input_size) / self.heatmap_size).astype(np.float32)

    def decode(self, heatmaps: np.ndarray, displacements: np.ndarray):
        _k, h, w = displacements.shape
        k = _k // 2
        displacements = displacements.reshape(k, 2, h, w)
        y, x = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
        grid = np.stack([x, y], axis=0).astype(displacements.dtype)
        posemaps = (grid[None] + displacements).reshape(k, 2, h * w)
        peaks = heatmap_nms(heatmaps[-1:], self.decode_nms_kernel).reshape(-1)
        order = np.argsort(-peaks, kind='stable')[:self.decode_max_instances]
        root_scores, pos_idx = peaks[order], order
        mask = root_scores > self.decode_thr
        root_scores, pos_idx = root_scores[mask], pos_idx[mask]
        keypoints = np.ascontiguousarray(posemaps[:, :, pos_idx].transpose(2, 0, 1))
        if self.generate_keypoint_heatmaps and heatmaps.shape[0] == 1 + k:
            scores = grid_sample_border(heatmaps[:k], keypoints.transpose(1, 0, 2)).T
        else:
            scores = None
        keypoints = keypoints * self.scale_factor
        return keypoints, root_scores, scores


def nearby_joints_nms(kpts_db: List[dict],
                      dist_thr: float = 0.05,
                      num_nearby_joints_thr: Optional[int] = None,
                      score_per_joint: bool = False,
                      max_dets: int = 30) -> list:
    """mmpose.evaluation.functional.nearby_joints_nms: drop poses with too many joints close to
    a better pose's; indexes to keep."""
    assert dist_thr > 0, '`dist_thr` must be greater than 0.'
    if len(kpts_db) == 0:
        return []
    if score_per_joint:
        scores = np.array([k['score'].mean() for k in kpts_db])
    else:
        scores = np.array([k['score'] for k in kpts_db])
    kpts = np.array([k['keypoints'] for k in kpts_db])
    num_people, num_joints, _ = kpts.shape
    if num_nearby_joints_thr is None:
        num_nearby_joints_thr = num_joints // 2
    assert num_nearby_joints_thr < num_joints
    pose_area = kpts.max(axis=1) - kpts.min(axis=1)
    pose_area = np.sqrt(np.power(pose_area, 2).sum(axis=1))
    pose_area = np.tile(pose_area.reshape(num_people, 1, 1), (num_people, num_joints))
    close_dist_thr = pose_area * dist_thr
    instance_dist = kpts[:, None] - kpts
    instance_dist = np.sqrt(np.power(instance_dist, 2).sum(axis=3))
    close_instance = (instance_dist < close_dist_thr).sum(2) > num_nearby_joints_thr
    ignored, keep = set(), list()
    for i in np.argsort(scores)[::-1]:
        if i in ignored:
            continue
        keep_inds = close_instance[i].nonzero()[0]
        keep_ind = keep_inds[np.argmax(scores[keep_inds])]
        if keep_ind not in ignored:
            keep.append(keep_ind)
            ignored = ignored.union(set(keep_inds))
    if max_dets > 0 and len(keep) > max_dets:
        sub = np.argsort(scores[keep])[-1:-max_dets - 1:-1]
        keep = [keep[i] for i in sub]
    return keep


def dekr_decode(codec: SPRCodec, heatmaps: np.ndarray, displacements: np.ndarray,
                test_cfg: dict) -> Tuple[np.ndarray, np.ndarray]:
    """``DEKRHead.decode`` for one image without a rescore net: SPR decoding, keypoint scores
    times the root score, then pose NMS (``nms_dist_thr``, ``nms_joints_thr``,
    ``max_num_people``). Returns keypoints (N, K, 2) in input pixels and scores (N, K)."""
    keypoints, root_scores, keypoint_scores = codec.decode(heatmaps, displacements)
    if keypoint_scores is None:
        raise ValueError('the SPR codec was exported without keypoint heatmaps '
                         '(generate_keypoint_heatmaps=False): keypoint scores need them')
    scores = root_scores[..., None] * keypoint_scores
    if len(keypoints) > 0 and test_cfg.get('nms_dist_thr', 0) > 0:
        keep = nearby_joints_nms(
            [dict(keypoints=keypoints[i], score=keypoint_scores[i]) for i in range(len(keypoints))],
            test_cfg['nms_dist_thr'],
            test_cfg.get('nms_joints_thr', None),
            score_per_joint=True,
            max_dets=test_cfg.get('max_num_people', 30))
        keypoints, scores = keypoints[keep], scores[keep]
    return keypoints, scores
