"""DEKR head whose ``predict`` decodes a whole batch, single- or multi-scale."""
import math
from types import SimpleNamespace
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData
from mmpose.models.heads.hybrid_heads.dekr_head import DEKRHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, Features, OptSampleList, Predictions
from torch import Tensor

from ...structures.multiscale import multiscale_input_geometry


@MODELS.register_module()
class BatchDEKRHead(DEKRHead):
    """:class:`DEKRHead` whose ``predict`` decodes every image of a batch, and multi-scale.

    "Bottom-up Human Pose Estimation via Disentangled Keypoint Regression" (Geng et al.,
    CVPR 2021). Same layers, arguments and state dict as :class:`DEKRHead`; decoding is its
    per-image SPR decode, rescoring and pose NMS; a multi-scale test aggregates the scales as
    DEKR does (configs/samkr/README.md). In a batch padded to a common size, centres in an
    image's padding are ignored (same-size images give batch-1 results exactly).

    Args: as :class:`DEKRHead` (a stock DEKR config only changes ``type``).

    Shapes:
        forward(feats) with feats[-1] (B, C, h, w) returns heatmaps (B, K+1, h, w) (K keypoints
        then the centre) and displacements (B, 2K, h, w), as :class:`DEKRHead`.
    """

    supports_batch_predict = True

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """DEKR's predict for any batch size, single- or multi-scale.

        Args:
            feats: ``feats`` or, with ``flip_test``, ``[feats, feats_of_flipped_batch]``; with
                ``multiscale_test`` a list of those, one per scale ``[1] + aug_scales``.
            batch_data_samples: one data sample per image (per-image metainfo is used by the
                estimator to map keypoints back and, multi-scale, to align the scales;
                ``flip_indices``/``skeleton_links`` are the dataset's and are read from the first
                sample).
            test_cfg: as :meth:`DEKRHead.predict`.

        Returns:
            list[InstanceData] with ``keypoints`` (N, K, 2) and ``keypoint_scores`` (N, K) per
            image, plus list[PixelData] (scale 1) when ``test_cfg['output_heatmaps']``.
        """
        metainfo = batch_data_samples[0].metainfo
        if test_cfg.get('multiscale_test', False):
            geometry = [multiscale_input_geometry(ds.metainfo) for ds in batch_data_samples]
            if not isinstance(feats, list) or len(feats) != len(geometry[0]):
                raise ValueError(f'{type(self).__name__}: multiscale_test=True expects one feats '
                                 f'per scale (1 + {len(geometry[0]) - 1} aug_scales)')
            outputs = [self._forward_test(f, metainfo, test_cfg) for f in feats]
            heatmaps = [
                self._suppress_padded_centres(hm, [g[s][0] for g in geometry], metainfo)
                for s, (hm, _) in enumerate(outputs)
            ]
            displacements = [dm for _, dm in outputs]
            preds = [
                self._decode_multiscale([hm[b] for hm in heatmaps], [dm[b] for dm in displacements],
                                        geometry[b], test_cfg, metainfo)
                for b in range(len(batch_data_samples))
            ]
            heatmaps, displacements = heatmaps[0], displacements[0]
        else:
            heatmaps, displacements = self._forward_test(feats, metainfo, test_cfg)
            heatmaps = self._suppress_padded_centres(
                heatmaps, [ds.metainfo.get('input_size') for ds in batch_data_samples], metainfo)
            preds = self.decode([heatmaps], [displacements], test_cfg, metainfo)

        if test_cfg.get('output_heatmaps', False):
            pred_fields = [
                PixelData(heatmaps=hm, displacements=dm)
                for hm, dm in zip(heatmaps.detach(), displacements.detach())
            ]
            return preds, pred_fields
        return preds

    def _forward_test(self, feats: Features, metainfo: dict,
                      test_cfg: ConfigType) -> Tuple[Tensor, Tensor]:
        """Heatmaps (B, K+1, h, w) and displacements (B, 2K, h, w) of one scale, flip-averaged."""
        if not test_cfg.get('flip_test', False):
            return self.forward(feats)
        if not (isinstance(feats, (list, tuple)) and len(feats) == 2):
            raise ValueError(f'{type(self).__name__}: flip_test=True expects '
                             'feats=[feats, feats_flipped]')
        heatmaps, displacements = self.forward(feats[0])
        heatmaps_flip, displacements_flip = self.forward(feats[1])
        flip_indices = metainfo['flip_indices']
        heatmaps_flip = flip_heatmaps(
            heatmaps_flip,
            flip_mode='heatmap',
            flip_indices=flip_indices + [len(flip_indices)],
            shift_heatmap=test_cfg.get('shift_heatmap', False))
        heatmaps = (heatmaps + heatmaps_flip) / 2.0
        displacements_flip = flip_heatmaps(
            displacements_flip, flip_mode='offset', flip_indices=flip_indices, shift_heatmap=False)
        # DEKR's sub-pixel amendment for flipped offsets, with the codec's stride (equal to
        # input_size / heatmap width for one unpadded image, and still right for a batch padded
        # to a common size or an extra scale, where the scale-1 input_size is not the tensor's)
        stride = self._stride(heatmaps, metainfo)[0]
        displacements_flip[:, ::2] += (stride - 1) / stride
        return heatmaps, (displacements + displacements_flip) / 2.0

    def _decode_multiscale(self, heatmaps: List[Tensor], displacements: List[Tensor],
                           geometry: List[tuple], test_cfg: ConfigType,
                           metainfo: dict) -> InstanceData:
        """Aggregate the scales of one image as DEKR's multi-scale test, in scale-1 input space.

        As HRNet/DEKR ``aggregate_results`` + ``pose_nms``: pose candidates are decoded from each
        scale's centre heatmap and displacements and pooled, each extra scale's centre scores
        normalised to the maximum of scale 1; the keypoint heatmaps of all scales are resampled
        onto the scale-1 heatmap grid and averaged, and the keypoint scores are read from that
        average. Rescoring and pose NMS are then DEKR's single-scale ones, so scales ``[1]`` give
        the single-scale result exactly (configs/samkr/README.md).

        Args:
            heatmaps: per scale (K+1, h_s, w_s); displacements: per scale (2K, h_s, w_s).
            geometry: per scale ``(input_size, input_center, input_scale)``, scale 1 first.
        """
        if self.decoder is None:
            raise RuntimeError(f'The decoder has not been set in {type(self).__name__}')
        k = displacements[0].shape[0] // 2
        stride = heatmaps[0].new_tensor(self._stride(heatmaps[0], metainfo))
        keypoints, root_scores = [], []
        heatmap_sum = heatmaps[0][:k]
        # the scale-1 heatmap grid in scale-1 input pixels, mapped into each extra scale below
        h, w = heatmaps[0].shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
        grid = torch.stack([xs, ys], -1).to(heatmaps[0]) * stride
        for s, (hm, dm) in enumerate(zip(heatmaps, displacements)):
            kpts, (roots, _) = self.decoder.decode(hm, dm)
            if s > 0:
                kpts = _map_input_points(kpts, geometry[s], geometry[0])
                if len(roots) and len(root_scores[0]):
                    roots = roots * (root_scores[0].max() / roots.max())
                grid_s = _map_input_points(grid, geometry[0], geometry[s]) / stride
                heatmap_sum = heatmap_sum + _sample(hm[:k], grid_s)
            keypoints.append(kpts)
            root_scores.append(roots)
        heatmap_avg = heatmap_sum / len(heatmaps)
        keypoints, root_scores = torch.cat(keypoints), torch.cat(root_scores)
        keypoint_scores = self.decoder.get_keypoint_scores(heatmap_avg, keypoints / stride)
        # DEKRHead.decode's rescoring and pose NMS, run on the candidates of all scales
        head = SimpleNamespace(
            decoder=_DecodedCandidates(keypoints, root_scores, keypoint_scores),
            rescore_net=self.rescore_net)
        one_image = keypoints.new_zeros(1)
        return DEKRHead.decode(head, [one_image], [one_image],
                               dict(test_cfg, multiscale_test=False), metainfo)[0]

    def _stride(self, heatmaps: Tensor, metainfo: dict) -> Tuple[float, float]:
        """(x, y) input pixels per heatmap pixel."""
        if self.decoder is not None:
            return float(self.decoder.scale_factor[0]), float(self.decoder.scale_factor[1])
        w, h = metainfo['input_size']
        return w / heatmaps.shape[-1], h / heatmaps.shape[-2]

    def _suppress_padded_centres(self, heatmaps: Tensor, input_sizes: List[Optional[tuple]],
                                 metainfo: dict) -> Tensor:
        """Zero the centre heatmap outside each image's ``input_size`` (B, K+1, h, w).

        A batch of differently sized images is padded right/bottom to a common size; a centre
        found in an image's padding would be a person outside it. For one unpadded image this is
        a no-op, so batch-1 results are DEKR's.

        Args:
            input_sizes: (w, h) of every image of the batch at this scale (``None``: unpadded).
            metainfo: the first sample's (for the stride when the head has no decoder).
        """
        h, w = heatmaps.shape[-2:]
        sx, sy = self._stride(heatmaps, metainfo)
        valid = []
        for size in input_sizes:
            in_w, in_h = size if size is not None else (w * sx, h * sy)
            valid.append((math.ceil(in_h / sy), math.ceil(in_w / sx)))
        if all(vh >= h and vw >= w for vh, vw in valid):
            return heatmaps
        heatmaps = heatmaps.clone()
        for b, (vh, vw) in enumerate(valid):
            heatmaps[b, -1, vh:] = 0
            heatmaps[b, -1, :, vw:] = 0
        return heatmaps


class _DecodedCandidates:
    """A stand-in codec whose ``decode`` returns one image's already decoded candidates."""

    def __init__(self, keypoints: Tensor, root_scores: Tensor, keypoint_scores: Tensor):
        self.candidates = keypoints, (root_scores, keypoint_scores)

    def decode(self, heatmaps, displacements) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        return self.candidates


def _map_input_points(points: Tensor, src: tuple, dst: tuple) -> Tensor:
    """Points (..., 2) in the input pixels of one scale to those of another.

    Each scale's ``(input_size, input_center, input_scale)`` is the warp of
    :class:`BottomupResize`; this is mmpose's inverse of ``src`` (as the estimator maps keypoints
    to the image) followed by the warp of ``dst``.
    """
    (src_size, src_center, src_scale), (dst_size, dst_center, dst_scale) = src, dst
    t = points.new_tensor
    image = points / t(src_size) * t(src_scale) + t(src_center) - 0.5 * t(src_scale)
    return (image - t(dst_center) + 0.5 * t(dst_scale)) / t(dst_scale) * t(dst_size)


def _sample(maps: Tensor, points: Tensor) -> Tensor:
    """Bilinear values of maps (C, h, w) at pixel coordinates points (H, W, 2) -> (C, H, W)."""
    h, w = maps.shape[-2:]
    grid = torch.stack([points[..., 0] / (w - 1) * 2 - 1, points[..., 1] / (h - 1) * 2 - 1], -1)
    return F.grid_sample(
        maps[None], grid[None], mode='bilinear', padding_mode='border', align_corners=True)[0]
