"""The two pose estimators: :class:`TopDown` (a person per box) and :class:`BottomUp` (all people
of an image), configured entirely by the model file's metadata."""
import warnings
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .backends import Backend
from .decode import HeatmapCodec, SPRCodec, dekr_decode, flip_heatmaps
from .transforms import bottomup_resize, to_image, to_input, topdown_crop

Result = Tuple[np.ndarray, np.ndarray]

_WARNED = []


def _check_opencv() -> None:
    """Warn once where OpenCV is 5 or newer: its warpAffine crops differ from 4.x's (measured:
    up to 4 grey levels in 6-9 % of pixels), which moves keypoints away from mmpose's."""
    if not _WARNED and int(cv2.__version__.split('.')[0]) >= 5:
        _WARNED.append(True)
        warnings.warn(
            f'OpenCV {cv2.__version__}: its warpAffine differs from OpenCV 4.x, with '
            "which mmpose's results were made; keypoints can move by pixels. Install "
            '"opencv-python-headless<5" (as mmpose-attn-runtime requires).',
            stacklevel=4)


class _Estimator:
    kind = ''

    def __init__(self,
                 model_file: str,
                 backend: str = 'onnxruntime',
                 threads: Optional[int] = None,
                 batch_size: int = 8):
        _check_opencv()
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.net = Backend(model_file, backend, threads)
        self.meta = meta = self.net.meta
        if meta['kind'] != self.kind:
            other = 'BottomUp' if meta['kind'] == 'bottomup' else 'TopDown'
            raise ValueError(f'{model_file} holds a {meta["kind"]} model: use {other}')
        self.batch_size = batch_size
        inp = meta['input']
        self.channel_order, self.mean, self.std = inp['channel_order'], inp['mean'], inp['std']
        self.test_cfg = dict(meta.get('test_cfg') or {})
        data = meta.get('dataset') or {}
        self.keypoint_names = list(data.get('keypoint_names') or [])
        self.flip_indices = list(data.get('flip_indices') or [])
        self.skeleton = [tuple(link) for link in data.get('skeleton') or []]
        self.flip_test = bool(self.test_cfg.get('flip_test', False))
        if self.flip_test and not self.flip_indices:
            raise ValueError(f'{model_file}: flip_test is on but the metadata has no '
                             'flip_indices; export it again with a dataset that defines them')

    def _forward(self, crops: List[np.ndarray]) -> List[np.ndarray]:
        x = to_input(crops, self.channel_order, self.mean, self.std)
        outs = self.net.run(x)
        if self.flip_test:
            return [outs, self.net.run(np.ascontiguousarray(x[..., ::-1]))]
        return [outs]


class TopDown(_Estimator):
    """Top-down pose estimation from an exported model file: one pose per person box.

    ``TopDown(model_file)(image_bgr, boxes_xyxy)`` crops each box as mmpose's test pipeline
    (``GetBBoxCenterScale`` padding, ``TopdownAffine``), runs the crops ``batch_size`` at a time
    (flip test when the model's ``test_cfg`` has it), decodes the heatmaps with the model's codec
    and maps the keypoints back to the image.

    Args:
        model_file: ``.onnx`` written by tools/deployment/export_onnx.py, or an OpenVINO ``.xml``.
        backend: ``'onnxruntime'`` or ``'openvino'``.
        threads: Engine threads (``None``: its default).
        batch_size: Crops per network call.

    Shapes:
        image (H, W, 3) BGR uint8, boxes (N, 4) or (N, 5) xyxy[+score] -> keypoints (N, K, 2)
        and scores (N, K), float32, in image pixels.
    """

    kind = 'topdown'

    def __init__(self,
                 model_file: str,
                 backend: str = 'onnxruntime',
                 threads: Optional[int] = None,
                 batch_size: int = 8):
        super().__init__(model_file, backend, threads, batch_size)
        self.codec = HeatmapCodec(self.meta['codec'])
        pipe = self.meta.get('pipeline') or {}
        self.input_size = tuple(int(v) for v in pipe.get('input_size', self.meta['input']['size']))
        self.padding = float(pipe.get('padding', 1.25))
        self.use_udp = bool(pipe.get('use_udp', False))

    def __call__(self, image: np.ndarray, boxes: np.ndarray) -> Result:
        return self.batch([image], [boxes])[0]

    def batch(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> List[Result]:
        """Poses of several images' boxes, the crops of all images batched together."""
        if len(images) != len(boxes):
            raise ValueError(f'{len(images)} images but {len(boxes)} box arrays')
        jobs = []  # (image index, crop, centre, scale)
        for i, (img, bxs) in enumerate(zip(images, boxes)):
            _check_image(img)
            bxs = np.asarray(bxs, dtype=np.float32)
            bxs = bxs.reshape(0, 4) if bxs.size == 0 else bxs.reshape(-1, bxs.shape[-1])
            if bxs.shape[1] < 4:
                raise ValueError(f'boxes must be (N, 4) or (N, 5) xyxy[+score], got {bxs.shape}')
            for b in bxs:
                crop, center, scale = topdown_crop(img, b[:4], self.input_size, self.padding,
                                                   self.use_udp)
                jobs.append((i, crop, center, scale))
        k = len(self.keypoint_names) or None
        kpts_out = [[] for _ in images]
        scores_out = [[] for _ in images]
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start:start + self.batch_size]
            outs = self._forward([c for _, c, _, _ in chunk])
            heatmaps = outs[0][0]
            if self.flip_test:
                flipped = flip_heatmaps(outs[1][0], self.flip_indices,
                                        self.test_cfg.get('flip_mode', 'heatmap'),
                                        self.test_cfg.get('shift_heatmap', False))
                heatmaps = (heatmaps + flipped) * 0.5
            for (i, _, center, scale), hm in zip(chunk, heatmaps):
                kpts, scores = self.codec.decode(hm)
                kpts[..., :2] = to_image(kpts[..., :2], self.input_size, center, scale)
                kpts_out[i].append(kpts[0])
                scores_out[i].append(scores[0])
                k = kpts.shape[1]
        return [_stack(kp, sc, k) for kp, sc in zip(kpts_out, scores_out)]


class BottomUp(_Estimator):
    """Bottom-up (DEKR/SAMKR) pose estimation from an exported model file: all people of an image.

    ``BottomUp(model_file)(image_bgr)`` resizes the image as mmpose's ``BottomupResize`` (the
    model's ``input_size``, ``size_factor``, ``resize_mode``, ``use_udp``), runs the network (and
    its flipped input when ``test_cfg.flip_test``), decodes as ``DEKRHead`` (SPR decoding,
    keypoint scores times the root score, pose NMS) and maps the keypoints back to the image.
    A file exported at one size takes only the images that resize to it.

    Args: as :class:`TopDown` (``batch_size``: images of one input size per network call).

    Shapes:
        image (H, W, 3) BGR uint8 -> keypoints (N, K, 2) and scores (N, K) in image pixels, the
        people in mmpose's order.
    """

    kind = 'bottomup'

    def __init__(self,
                 model_file: str,
                 backend: str = 'onnxruntime',
                 threads: Optional[int] = None,
                 batch_size: int = 1):
        super().__init__(model_file, backend, threads, batch_size)
        if self.test_cfg.get('multiscale_test', False):
            raise ValueError(f'{model_file}: test_cfg.multiscale_test is on; the runtime runs one '
                             'scale: export with model.test_cfg.multiscale_test=False')
        if self.meta.get('rescore'):
            raise ValueError(f'{model_file}: a rescore net is not supported by this runtime')
        self.codec = SPRCodec(self.meta['codec'])
        pipe = self.meta.get('pipeline') or {}
        self.resize = dict(
            input_size=tuple(pipe.get('input_size', self.meta['input']['size'])),
            size_factor=int(pipe.get('size_factor', 32)),
            resize_mode=pipe.get('resize_mode', 'fit'),
            use_udp=bool(pipe.get('use_udp', False)),
            pad_val=tuple(pipe.get('pad_val', (0, 0, 0))))
        self.stride = float(self.codec.scale_factor[0])

    def __call__(self, image: np.ndarray) -> Result:
        return self.batch([image])[0]

    def batch(self, images: Sequence[np.ndarray]) -> List[Result]:
        """Poses of several images; images of one input size run ``batch_size`` at a time."""
        inputs = []
        for img in images:
            _check_image(img)
            inputs.append(bottomup_resize(img, **self.resize))
        results: List[Optional[Result]] = [None] * len(images)
        groups = {}
        for i, (_, size, _, _) in enumerate(inputs):
            groups.setdefault(size, []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                outs = self._forward([inputs[i][0] for i in chunk])
                heatmaps, displacements = outs[0][0], outs[0][1]
                if self.flip_test:
                    heatmaps, displacements = self._merge_flip(heatmaps, displacements, *outs[1])
                for b, i in enumerate(chunk):
                    kpts, scores = dekr_decode(self.codec, heatmaps[b], displacements[b],
                                               self.test_cfg)
                    _, size, center, scale = inputs[i]
                    kpts = to_image(kpts, size, center, scale)
                    results[i] = (kpts.astype(np.float32), scores.astype(np.float32))
        return results

    def _merge_flip(self, heatmaps, displacements, heatmaps_flip, displacements_flip):
        """BatchDEKRHead._forward_test: the flipped outputs flipped back and averaged."""
        heatmaps_flip = flip_heatmaps(heatmaps_flip, self.flip_indices + [len(self.flip_indices)],
                                      'heatmap', self.test_cfg.get('shift_heatmap', False))
        displacements_flip = flip_heatmaps(
            displacements_flip, self.flip_indices, 'offset', shift_heatmap=False)
        displacements_flip[:, ::2] += (self.stride - 1) / self.stride
        return (heatmaps + heatmaps_flip) / 2.0, (displacements + displacements_flip) / 2.0


def _check_image(img) -> None:
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError('an image must be an (H, W, 3) BGR numpy array (cv2.imread), got '
                         f'{type(img).__name__} {getattr(img, "shape", "")}')


def _stack(kpts: list, scores: list, k: Optional[int]) -> Result:
    if not kpts:
        k = k or 0
        return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
    return np.stack(kpts).astype(np.float32), np.stack(scores).astype(np.float32)
