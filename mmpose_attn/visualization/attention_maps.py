"""ESAM's and SAMKR's attention maps over an image, recorded by forward hooks.

:class:`AttentionRecorder` hooks the registered attention submodules (found by type, so any
config's model works) and keeps what they output during one normal forward pass; nothing of the
forward is copied. :func:`visualize_attention` maps the recorded maps from the network's resolution
back onto the image with the input warp that mmpose's pipeline recorded (``input_center``,
``input_scale``; inverted by :func:`mmpose.structures.bbox.get_warp_matrix`, as mmpose's
``revert_heatmap`` does) and colours them as mmpose draws
heatmaps (:meth:`mmengine.visualization.Visualizer.draw_featmap`). The command line is
``tools/analysis_tools/vis_attention.py``; the output files are described in
docs/figures_and_tables.md.
"""
import math
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from ..engine.atomic_io import atomic_write
from ..models.layers.esam_attention import StageAttention
from ..models.layers.ulsam import ULSAM

#: Strongest channels (by the channel attention's weight) drawn per ESAM stage by default.
DEFAULT_TOPK_CHANNELS = 8


def _stage_number(name: str, order: int) -> int:
    # ESAMResNet names its attentions attn1..attn4 after the stage they follow
    """The stage an attention module follows: the digits ending its name, else ``order + 1``."""
    m = re.search(r'(\d+)$', name)
    return int(m.group(1)) if m else order + 1


class AttentionRecorder:
    """Forward hooks on a model's ESAM and SAMKR attention modules that keep their maps.

    Used as a context manager: the hooks exist only inside the ``with`` block and record the
    first call of each module there (with flip or multi-scale testing that is the unflipped
    pass at scale 1), batch item 0, detached on the CPU. The model's outputs are unchanged.

    Recorded, per :class:`StageAttention` ``name`` (ESAM, "Efficient Spatial-Attention Module
    for Human Pose Estimation", Tran et al.):

    - ``features``: the stage output F entering the attention, (C, H, W);
    - ``channel``: the channel attention ``channel_gate.conv2`` output, (C, 1, 1) in (0, 1);
    - ``spatial``: the spatial attention ``spatial_gate.sigmoid`` output, (1, H, W) in (0, 1).

    Per :class:`ULSAM` ``name`` (SAMKR, Chen et al.): ``subspaces``, the ``softmax`` output
    (G, H, W), each map summing to 1. And, for a head with DEKR's ``heatmap_conv_layers``,
    ``heatmaps`` (K+1, h, w) from its last layer.

    Args:
        model (nn.Module): a pose estimator (or any module holding these submodules).

    Attributes:
        stages (OrderedDict): ``stage number -> (name, StageAttention)``, in model order.
        ulsams (OrderedDict): ``name -> ULSAM``, in model order.
        records (dict): ``(kind, name) -> Tensor`` after a forward inside the block.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.stages: 'OrderedDict[int, Tuple[str, StageAttention]]' = OrderedDict()
        self.ulsams: 'OrderedDict[str, ULSAM]' = OrderedDict()
        for name, module in model.named_modules():
            if isinstance(module, StageAttention):
                self.stages[_stage_number(name, len(self.stages))] = (name, module)
            elif isinstance(module, ULSAM):
                self.ulsams[name] = module
        head = getattr(model, 'head', None)
        layers = getattr(head, 'heatmap_conv_layers', None)
        self.heatmap_layer: Optional[nn.Module] = (
            layers[-1] if self.ulsams and isinstance(layers, nn.Sequential) else None)
        self.records: Dict[Tuple[str, str], Tensor] = {}
        self._handles: list = []

    @property
    def found(self) -> bool:
        """Whether the model has any ESAM or SAMKR attention module."""
        return bool(self.stages or self.ulsams)

    def _keep(self, key: Tuple[str, str], tensor: Tensor) -> None:
        """Keep the first image's map of the first call under ``key``."""
        if key not in self.records:  # first call only: the unflipped, scale-1 pass
            self.records[key] = tensor[0].detach().float().cpu().clone()

    def _hook(self, key: Tuple[str, str], use_input: bool = False):
        """A forward hook keeping the module's output (or its input) under ``key``."""

        def hook(module, inputs, output):
            self._keep(key, inputs[0] if use_input else output)

        return hook

    def __enter__(self) -> 'AttentionRecorder':
        self.records = {}
        reg = []
        for _, (name, stage) in self.stages.items():
            reg += [(stage.channel_gate, ('features', name), True),
                    (stage.channel_gate.conv2, ('channel', name), False),
                    (stage.spatial_gate.sigmoid, ('spatial', name), False)]
        for name, ulsam in self.ulsams.items():
            reg.append((ulsam.softmax, ('subspaces', name), False))
        if self.heatmap_layer is not None:
            reg.append((self.heatmap_layer, ('heatmaps', 'head'), False))
        try:
            for module, key, use_input in reg:
                self._handles.append(module.register_forward_hook(self._hook(key, use_input)))
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        """Remove every hook this recorder registered."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __exit__(self, *exc) -> None:
        self.remove()

    def get(self, kind: str, name: str) -> Tensor:
        """The recorded tensor, or a clear error when that module did not run."""
        if (kind, name) not in self.records:
            raise RuntimeError(f'AttentionRecorder: no {kind} map was recorded for module '
                               f'{name!r}: it did not run in the forward pass inside the block')
        return self.records[(kind, name)]


def ulsam_keypoint_groups(model: nn.Module, ulsam: ULSAM,
                          num_keypoints: int) -> Optional[List[slice]]:
    """The subspace maps of each keypoint: ``[slice of G]`` per keypoint, or ``None`` when the
    ULSAM's subspaces are shared by all keypoints (SAMKR Table 1's shared branch).

    SAMKRHead's per-keypoint branches are one ULSAM with K*g subspaces, keypoint k's being
    ``k*g .. (k+1)*g - 1`` (its grouped convs keep branch k's channels together).
    """
    structure = getattr(getattr(model, 'head', None), 'structure', None)
    if isinstance(structure, dict) and 'num_branches' in structure:
        per_keypoint = structure['num_branches'] == num_keypoints and num_keypoints > 1
    else:
        per_keypoint = ulsam.num_subspaces % num_keypoints == 0
    if not per_keypoint:
        return None
    g = ulsam.num_subspaces // num_keypoints
    return [slice(k * g, (k + 1) * g) for k in range(num_keypoints)]


def network_view(center: np.ndarray, scale: np.ndarray, img_shape: Tuple[int, int]) -> tuple:
    """``(x0, y0, x1, y1)``: the part of the image the network saw (the input warp's
    ``center +/- scale / 2``), clipped to the image."""
    h, w = img_shape
    (cx, cy), (sw, sh) = np.asarray(center).reshape(2), np.asarray(scale).reshape(2)
    x0, y0 = max(0, int(math.floor(cx - sw / 2))), max(0, int(math.floor(cy - sh / 2)))
    x1, y1 = min(w, int(math.ceil(cx + sw / 2))), min(h, int(math.ceil(cy + sh / 2)))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f'the network input (center {cx:.1f},{cy:.1f}, size {sw:.1f}x{sh:.1f}) '
                         f'does not overlap the {w}x{h} image: the box lies outside the image')
    return x0, y0, x1, y1


def _label(img: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` (lines split at ``\\n``) at the top left, white on a black outline,
    shrunk to fit the width; in place."""
    lines = text.split('\n')
    font = cv2.FONT_HERSHEY_SIMPLEX
    widest = max(cv2.getTextSize(line, font, 1.0, 1)[0][0] for line in lines)
    scale = max(0.3, min(0.8, img.shape[0] / 600, (img.shape[1] - 8) / max(widest, 1)))
    step = int(math.ceil(cv2.getTextSize('Ag', font, scale, 1)[0][1] * 1.6))
    for i, line in enumerate(lines):
        for color, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(img, line, (4, step * (i + 1)), font, scale, color, thick, cv2.LINE_AA)
    return img


def tile(images: Sequence[np.ndarray], cols: Optional[int] = None) -> np.ndarray:
    """Tile equally-sized (H, W, 3) images row by row into (rows*H, cols*W, 3), ``cols``
    defaulting to ceil(sqrt(n)); empty cells are black."""
    n = len(images)
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    h, w = images[0].shape[:2]
    out = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return out


class AttentionDrawer:
    """Colour maps at the network's resolution over the image as mmpose draws heatmaps.

    Args:
        image (np.ndarray): the input image, (H, W, 3) BGR as mmcv reads it.
        input_center, input_scale (np.ndarray): the input warp recorded by mmpose's pipeline
            (TopdownAffine / BottomupResize) in the data sample's metainfo.
        crop (tuple, optional): ``(x0, y0, x1, y1)`` to draw over that part of the image only.
        alpha (float): the colour map's weight, as ``draw_featmap``'s. Defaults to 0.5
            (mmpose's heatmap drawing).
        udp (bool): the input was warped with ``TopdownAffine(use_udp=True)``: map pixels
            0 .. w-1 span the input's first to last pixel (UDP), as mmpose's UDP decoders place
            keypoints. Defaults to False.
    """

    def __init__(self,
                 image: np.ndarray,
                 input_center: np.ndarray,
                 input_scale: np.ndarray,
                 crop: Optional[tuple] = None,
                 alpha: float = 0.5,
                 udp: bool = False):
        self.udp = udp
        self.img_shape = image.shape[:2]
        self.center = np.asarray(input_center, np.float32)
        self.scale = np.asarray(input_scale, np.float32)
        h, w = self.img_shape
        self.crop = crop or (0, 0, w, h)
        x0, y0, x1, y1 = self.crop
        self.background = np.ascontiguousarray(image[y0:y1, x0:x1, ::-1])  # RGB, as mmpose draws
        self.alpha = alpha

    def on_image(self, fmap: Tensor) -> np.ndarray:
        """(h, w) map at the network's resolution -> (H, W) float32 on the image (or crop)."""
        # mmpose's revert_heatmap with a replicated border: its zero border would darken the
        # image's last row/column (sampled up to half a map pixel outside the map) and, being
        # the minimum, wash out draw_featmap's min-max colour scale
        from mmpose.structures.bbox import get_warp_matrix
        fmap = np.ascontiguousarray(fmap.numpy(), np.float32)
        h, w = self.img_shape
        center, scale = self.center.reshape(2), self.scale.reshape(2)
        if self.udp:
            # map pixel p -> p / (size - 1) * scale + center - scale / 2 (UDPHeatmap's decode
            # followed by the top-down estimator's input -> image step)
            span = scale / (np.array(fmap.shape[::-1], np.float32) - 1)
            warp = np.array([[span[0], 0, center[0] - scale[0] / 2],
                             [0, span[1], center[1] - scale[1] / 2]], np.float32)
        else:
            warp = get_warp_matrix(
                center, scale, rot=0, output_size=(fmap.shape[1], fmap.shape[0]), inv=True)
        full = cv2.warpAffine(
            fmap, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = self.crop
        return full[y0:y1, x0:x1]

    def draw(self, fmap: Tensor, label: Optional[str] = None) -> np.ndarray:
        """(h, w) map -> (H, W, 3) RGB drawing over the image (or crop), min-max coloured as
        mmpose's heatmaps; ``label`` is written at the top left."""
        from mmengine.visualization import Visualizer
        on_img = torch.from_numpy(np.ascontiguousarray(self.on_image(fmap)))
        drawn = Visualizer.draw_featmap(on_img[None], self.background, alpha=self.alpha)
        return drawn if label is None else _label(np.ascontiguousarray(drawn), label)


def _safe(name: str) -> str:
    """A file-name-safe form of ``name``."""
    return re.sub(r'[^A-Za-z0-9_]+', '_', str(name)).strip('_') or 'kpt'


def attention_drawings(recorder: AttentionRecorder,
                       drawer: AttentionDrawer,
                       dataset_meta: dict,
                       topk: int = DEFAULT_TOPK_CHANNELS) -> 'OrderedDict[str, np.ndarray]':
    """``file name -> RGB drawing`` of everything ``recorder`` holds.

    - ``esam_stage{n}_spatial.png``: stage n's spatial attention over the image;
    - ``esam_stage{n}_channels.png``: stage n's ``topk`` feature maps (the stage output F)
      with the largest channel attention, tiled 4 a row, each labelled with its channel and
      weight;
    - ``samkr_kpt{k:02d}_{name}.png``: keypoint k's heatmap then its g ULSAM subspace maps,
      tiled ceil(sqrt(n)) a row (``samkr_{module}_kpt...`` when the model has several ULSAMs);
    - with a shared ULSAM branch: ``samkr_subspaces.png`` (all G maps) and one heatmap per
      keypoint.

    Every map is coloured min-max over the image as mmpose's heatmaps; its label gives the
    value range (a softmax map: its peak over the uniform 1/(H*W)).
    """
    out: 'OrderedDict[str, np.ndarray]' = OrderedDict()
    for n, (name, _) in recorder.stages.items():
        spatial = recorder.get('spatial', name)[0]
        out[f'esam_stage{n}_spatial.png'] = drawer.draw(
            spatial, f'stage {n} spatial attention\n{_range(spatial)}')
        weights = recorder.get('channel', name).flatten()
        feats = recorder.get('features', name)
        top = torch.topk(weights, min(topk, weights.numel()))  # deterministic on CPU
        out[f'esam_stage{n}_channels.png'] = tile([
            drawer.draw(feats[c], f'stage {n} channel {c}\nattention {w:.3f}')
            for c, w in zip(top.indices.tolist(), top.values.tolist())
        ],
                                                  cols=min(4, top.indices.numel()))

    if recorder.ulsams:
        num_keypoints = int(dataset_meta['num_keypoints'])
        names = dataset_meta.get('keypoint_id2name') or {}
        heatmaps = (
            recorder.get('heatmaps', 'head') if recorder.heatmap_layer is not None else None)
        several = len(recorder.ulsams) > 1
        for uname, ulsam in recorder.ulsams.items():
            prefix = f'samkr_{_safe(uname)}' if several else 'samkr'
            maps = recorder.get('subspaces', uname)
            groups = ulsam_keypoint_groups(recorder.model, ulsam, num_keypoints)
            if groups is None:
                out[f'{prefix}_subspaces.png'] = tile([
                    drawer.draw(m, f'shared subspace {i}\n{_peak(m)}') for i, m in enumerate(maps)
                ])
            for k in range(num_keypoints):
                kname = names.get(k, str(k))
                tiles = []
                if heatmaps is not None:
                    tiles.append(
                        drawer.draw(heatmaps[k], f'{kname} heatmap\n{_range(heatmaps[k])}'))
                if groups is not None:
                    tiles += [
                        drawer.draw(m, f'{kname} subspace {i}\n{_peak(m)}')
                        for i, m in enumerate(maps[groups[k]])
                    ]
                if tiles:
                    out[f'{prefix}_kpt{k:02d}_{_safe(kname)}.png'] = tile(tiles)
    return out


def _range(fmap: Tensor) -> str:
    """The map's ``[min, max]``, for a drawing's label."""
    return f'[{fmap.min().item():.3g}, {fmap.max().item():.3g}]'


def _peak(fmap: Tensor) -> str:
    # a softmax map's peak relative to the uniform 1/(H*W): 1.0 means no preference
    return f'peak {fmap.max().item() * fmap.numel():.2f}x uniform'


def write_drawings(drawings: Dict[str, np.ndarray], out_dir: str) -> List[str]:
    """Write RGB drawings as PNGs under ``out_dir`` (each file whole or not at all)."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for fname, rgb in drawings.items():
        ok, buf = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
        if not ok:
            raise RuntimeError(f'OpenCV could not encode {fname} as PNG')
        path = osp.join(out_dir, fname)
        atomic_write(buf.tobytes(), path)
        paths.append(path)
    return paths


def _check_bbox(bbox: Sequence[float], img_shape: Tuple[int, int], role: str) -> np.ndarray:
    """An x y w h box inside the image as (1, 4) x1 y1 x2 y2; a clear error otherwise."""
    h, w = img_shape
    if len(bbox) != 4:
        raise ValueError(f'{role}: a box is x y w h (4 numbers), got {list(bbox)}')
    x, y, bw, bh = (float(v) for v in bbox)
    if bw <= 0 or bh <= 0:
        raise ValueError(f'{role} {list(bbox)}: width and height must be positive (x y w h)')
    if x >= w or y >= h or x + bw <= 0 or y + bh <= 0:
        raise ValueError(f'{role} {list(bbox)} (x y w h) lies outside the {w}x{h} image')
    return np.array([[x, y, x + bw, y + bh]], np.float32)


def visualize_attention(model: nn.Module,
                        image: np.ndarray,
                        bbox: Optional[Sequence[float]] = None,
                        topk: int = DEFAULT_TOPK_CHANNELS,
                        alpha: float = 0.5,
                        bbox_role: str = '--bbox') -> 'OrderedDict[str, np.ndarray]':
    """Run ``model`` on ``image`` once with an :class:`AttentionRecorder` and draw its maps.

    Args:
        model (nn.Module): an mmpose pose estimator with ESAM and/or SAMKR modules (built by
            :func:`mmpose_attn.apis.build_pose_model`, so that it has ``cfg`` and ``dataset_meta``).
        image (np.ndarray): (H, W, 3) BGR.
        bbox (sequence, optional): top-down only: the person box ``x y w h``; default the
            whole image. The drawings cover the part of the image the network saw.
        topk (int): ESAM channels drawn per stage.
        alpha (float): colour map weight (``draw_featmap``'s ``alpha``).

    Returns:
        OrderedDict: file name -> (H', W', 3) RGB drawing (see :func:`attention_drawings`).
    """
    from mmpose.apis import inference_bottomup, inference_topdown

    from ..apis import pose_estimator_kind
    recorder = AttentionRecorder(model)
    if not recorder.found:
        raise ValueError(f'the model ({type(model).__name__}) has no ESAM StageAttention and no '
                         'SAMKR ULSAM module: pass an ESAM or SAMKR config '
                         '(configs/esam/, configs/samkr/, configs/synthetic/).')
    if topk < 1:
        raise ValueError(f'--topk must be at least 1, got {topk}')
    if not 0 <= alpha <= 1:
        raise ValueError(f'--alpha must lie in [0, 1], got {alpha}')
    kind = pose_estimator_kind(model.cfg)
    udp = False
    if kind == 'bottomup':
        if bbox is not None:
            raise ValueError(f'{bbox_role}: this is a bottom-up model, which sees the whole '
                             'image; boxes are for top-down models only.')
        for step in model.cfg.test_dataloader.dataset.pipeline:
            if 'BottomupResize' in str(step.get('type')) and step.get('use_udp', False):
                raise ValueError('BottomupResize(use_udp=True) warps the image with a matrix '
                                 "that the recorded input_center/input_scale don't describe; "
                                 'mapping its maps back is not supported.')
        with torch.no_grad(), recorder:
            sample = inference_bottomup(model, image)[0]
    elif kind == 'topdown':
        udp = any(
            step.get('type') == 'TopdownAffine' and step.get('use_udp', False)
            for step in model.cfg.test_dataloader.dataset.pipeline)
        boxes = None if bbox is None else _check_bbox(bbox, image.shape[:2], bbox_role)
        with torch.no_grad(), recorder:
            sample = inference_topdown(model, image, boxes, bbox_format='xyxy')[0]
    else:
        raise ValueError(f'the model is a {kind} pose estimator; only top-down and bottom-up '
                         'ones are supported.')
    meta = sample.metainfo
    center, scale = meta['input_center'], meta['input_scale']
    crop = network_view(center, scale, image.shape[:2]) if kind == 'topdown' else None
    drawer = AttentionDrawer(image, center, scale, crop=crop, alpha=alpha, udp=udp)
    return attention_drawings(recorder, drawer, model.dataset_meta, topk=topk)
