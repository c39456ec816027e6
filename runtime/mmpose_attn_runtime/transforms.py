"""mmpose 1.3.2's test-time geometry, restated in numpy: the top-down crop (``GetBBoxCenterScale``
+ ``TopdownAffine``), the bottom-up resize (``BottomupResize``), the data preprocessor's
normalisation and the mapping of keypoints back to the image."""
import math
from typing import Sequence, Tuple

import cv2
import numpy as np


def bbox_xyxy2cs(bbox: np.ndarray, padding: float = 1.) -> Tuple[np.ndarray, np.ndarray]:
    """mmpose.structures.bbox_xyxy2cs: (n, 4) boxes -> centres (n, 2) and scales (n, 2)."""
    scale = (bbox[..., 2:] - bbox[..., :2]) * padding
    center = (bbox[..., 2:] + bbox[..., :2]) * 0.5
    return center, scale


def fix_aspect_ratio(bbox_scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """TopdownAffine._fix_aspect_ratio: widen or heighten (n, 2) scales to ``w / h``."""
    w, h = np.hsplit(bbox_scale, [1])
    return np.where(w > h * aspect_ratio, np.hstack([w, w / aspect_ratio]),
                    np.hstack([h * aspect_ratio, h]))


def _rotate_point(pt: np.ndarray, angle_rad: float) -> np.ndarray:
    sn, cs = np.sin(angle_rad), np.cos(angle_rad)
    return np.array([[cs, -sn], [sn, cs]]) @ pt


def _get_3rd_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    direction = a - b
    return b + np.r_[-direction[1], direction[0]]


def get_warp_matrix(center: np.ndarray, scale: np.ndarray, rot: float,
                    output_size: Sequence[float]) -> np.ndarray:
    """mmpose.structures.bbox.get_warp_matrix (no shift, no inverse, fixed aspect ratio): the
    2x3 affine taking the box (centre, scale) onto ``output_size`` (w, h)."""
    src_w = scale[0]
    dst_w, dst_h = output_size[:2]
    rot_rad = np.deg2rad(rot)
    src_dir = _rotate_point(np.array([src_w * -0.5, 0.]), rot_rad)
    dst_dir = np.array([dst_w * -0.5, 0.])
    shift = np.array((0., 0.))
    src = np.zeros((3, 2), dtype=np.float32)
    src[0, :] = center + scale * shift
    src[1, :] = center + src_dir + scale * shift
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0, :] = [dst_w * 0.5, dst_h * 0.5]
    dst[1, :] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    src[2, :] = _get_3rd_point(src[0, :], src[1, :])
    dst[2, :] = _get_3rd_point(dst[0, :], dst[1, :])
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def get_udp_warp_matrix(center: np.ndarray, scale: np.ndarray, rot: float,
                        output_size: Sequence[float]) -> np.ndarray:
    """mmpose.structures.bbox.get_udp_warp_matrix (UDP's unbiased affine)."""
    input_size = center * 2
    rot_rad = np.deg2rad(rot)
    warp_mat = np.zeros((2, 3), dtype=np.float32)
    scale_x = (output_size[0] - 1) / scale[0]
    scale_y = (output_size[1] - 1) / scale[1]
    warp_mat[0, 0] = math.cos(rot_rad) * scale_x
    warp_mat[0, 1] = -math.sin(rot_rad) * scale_x
    warp_mat[0, 2] = scale_x * (-0.5 * input_size[0] * math.cos(rot_rad) +
                                0.5 * input_size[1] * math.sin(rot_rad) + 0.5 * scale[0])
    warp_mat[1, 0] = math.sin(rot_rad) * scale_y
    warp_mat[1, 1] = math.cos(rot_rad) * scale_y
    warp_mat[1, 2] = scale_y * (-0.5 * input_size[0] * math.sin(rot_rad) -
                                0.5 * input_size[1] * math.cos(rot_rad) + 0.5 * scale[1])
    return warp_mat


def topdown_crop(img: np.ndarray,
                 bbox_xyxy: np.ndarray,
                 input_size: Tuple[int, int],
                 padding: float = 1.25,
                 use_udp: bool = False):
    """One person's network input, as GetBBoxCenterScale + TopdownAffine.

    Args:
        img: (H, W, 3) image. bbox_xyxy: (4,) box. input_size: (w, h) of the crop.

    Returns:
        (crop (h, w, 3), centre (2,), scale (2,)): the crop and the box it covers (aspect fixed).
    """
    center, scale = bbox_xyxy2cs(np.asarray(bbox_xyxy)[None, :4], padding=padding)
    w, h = input_size
    scale = fix_aspect_ratio(scale, aspect_ratio=w / h)
    center, scale = center[0], scale[0]
    if use_udp:
        warp = get_udp_warp_matrix(center, scale, 0., output_size=(w, h))
    else:
        warp = get_warp_matrix(center, scale, 0., output_size=(w, h))
    crop = cv2.warpAffine(img, warp, (int(w), int(h)), flags=cv2.INTER_LINEAR)
    return crop, center, scale


def _ceil_to_multiple(size, base: int):
    return tuple(int(np.ceil(s / base) * base) for s in size)


def bottomup_input_size(img_wh: Tuple[int, int], input_size: Tuple[int, int], size_factor: int,
                        resize_mode: str):
    """BottomupResize._get_input_size: (actual, padded) input sizes (w, h) for an image."""
    img_w, img_h = img_wh
    ratio = img_w / img_h
    if resize_mode == 'fit':
        padded = _ceil_to_multiple(input_size, size_factor)
        if padded != tuple(input_size):
            raise ValueError(f"resize_mode 'fit' needs an input size that is a multiple of "
                             f'size_factor {size_factor}, got {input_size}')
        pad_w, pad_h = padded
        actual = (min(pad_w, pad_h * ratio), min(pad_h, pad_w / ratio))
    elif resize_mode == 'expand':
        pad_w, pad_h = _ceil_to_multiple(input_size, size_factor)
        actual = (max(pad_w, pad_h * ratio), max(pad_h, pad_w / ratio))
        padded = _ceil_to_multiple(actual, size_factor)
    else:
        raise ValueError(f'Invalid resize mode {resize_mode}')
    return actual, padded


def bottomup_resize(img: np.ndarray,
                    input_size: Tuple[int, int],
                    size_factor: int = 32,
                    resize_mode: str = 'fit',
                    use_udp: bool = False,
                    pad_val: Sequence[float] = (0, 0, 0)):
    """BottomupResize (one scale): the resized, padded image and the warp's (input_size (w, h),
    centre, scale) that map keypoints back to the image."""
    img_h, img_w = img.shape[:2]
    actual, padded = bottomup_input_size((img_w, img_h), input_size, size_factor, resize_mode)
    if use_udp:
        center = np.array([(img_w - 1.0) / 2, (img_h - 1.0) / 2], dtype=np.float32)
        scale = np.array([img_w, img_h], dtype=np.float32)
        warp = get_udp_warp_matrix(center=center, scale=scale, rot=0, output_size=actual)
    else:
        center = np.array([img_w / 2, img_h / 2], dtype=np.float32)
        scale = np.array([img_w * padded[0] / actual[0], img_h * padded[1] / actual[1]],
                         dtype=np.float32)
        warp = get_warp_matrix(center=center, scale=scale, rot=0, output_size=padded)
    out = cv2.warpAffine(img, warp, padded, flags=cv2.INTER_LINEAR, borderValue=tuple(pad_val))
    return out, padded, center, scale


def to_input(images: Sequence[np.ndarray], channel_order: str, mean: Sequence[float],
             std: Sequence[float]) -> np.ndarray:
    """The data preprocessor: BGR images (N x (h, w, 3), one size) -> (N, 3, h, w) float32, in
    the network's channel order, ``(x - mean) / std``."""
    x = np.stack(images).astype(np.float32)
    if channel_order == 'rgb':
        x = x[..., ::-1]
    x = x.transpose(0, 3, 1, 2)
    mean = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((x - mean) / std)


def to_image(keypoints: np.ndarray, input_size, center: np.ndarray,
             scale: np.ndarray) -> np.ndarray:
    """Keypoints in input pixels -> image pixels (the pose estimators' add_pred_to_datasample)."""
    return keypoints / input_size * scale + center - 0.5 * scale
