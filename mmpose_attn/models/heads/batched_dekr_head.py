"""DEKR head whose ``predict`` decodes a whole batch.

"Bottom-up Human Pose Estimation via Disentangled Keypoint Regression" (Geng et al., CVPR 2021).
mmpose's :class:`DEKRHead` asserts batch size 1 in ``predict``; this head has the same layers,
arguments and state dict and decodes every image of a batch. The network runs once per batch
(plus once on the flipped batch); decoding reuses DEKR's per-image SPR decode. In a batch of
differently sized images (padded right/bottom by the data preprocessor) centres inside an image's
padding are ignored; the network itself still sees the padding, so such an image's result can
differ slightly from a batch-1 run (same-size images give identical results).
"""
import math
from typing import Tuple

from mmengine.structures import PixelData
from torch import Tensor

from mmpose.models.heads.hybrid_heads.dekr_head import DEKRHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, Features, OptSampleList, Predictions


@MODELS.register_module()
class BatchDEKRHead(DEKRHead):
    """:class:`DEKRHead` with a batched ``predict``.

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
        """DEKR's predict for any batch size (single-scale; multi-scale as DEKR needs batch 1).

        Args:
            feats: ``feats`` or, with ``flip_test``, ``[feats, feats_of_flipped_batch]``.
            batch_data_samples: one data sample per image (per-image metainfo is used by the
                estimator to map keypoints back; ``flip_indices``/``skeleton_links`` are the
                dataset's and are read from the first sample).
            test_cfg: as :meth:`DEKRHead.predict`.

        Returns:
            list[InstanceData] with ``keypoints`` (N, K, 2) and ``keypoint_scores`` (N, K) per
            image, plus list[PixelData] when ``test_cfg['output_heatmaps']``.
        """
        if test_cfg.get('multiscale_test', False):
            if len(batch_data_samples) != 1:
                raise ValueError(f'{type(self).__name__}: multiscale_test=True needs batch size 1 '
                                 f'(as DEKR), got {len(batch_data_samples)} samples')
            return super().predict(feats, batch_data_samples, test_cfg)

        metainfo = batch_data_samples[0].metainfo
        if test_cfg.get('flip_test', False):
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
                displacements_flip, flip_mode='offset', flip_indices=flip_indices,
                shift_heatmap=False)
            # DEKR's sub-pixel amendment for flipped offsets, with the codec's stride (equal to
            # input_size / heatmap width for one unpadded image, and still right for a batch
            # padded to a common size, where an image's input_size is not the tensor's)
            stride = self._stride(heatmaps, metainfo)[0]
            displacements_flip[:, ::2] += (stride - 1) / stride
            displacements = (displacements + displacements_flip) / 2.0
        else:
            heatmaps, displacements = self.forward(feats)

        heatmaps = self._suppress_padded_centres(heatmaps, batch_data_samples)
        preds = self.decode([heatmaps], [displacements], test_cfg, metainfo)
        if test_cfg.get('output_heatmaps', False):
            pred_fields = [
                PixelData(heatmaps=hm, displacements=dm)
                for hm, dm in zip(heatmaps.detach(), displacements.detach())
            ]
            return preds, pred_fields
        return preds

    def _stride(self, heatmaps: Tensor, metainfo: dict) -> Tuple[float, float]:
        """(x, y) input pixels per heatmap pixel."""
        if self.decoder is not None:
            return float(self.decoder.scale_factor[0]), float(self.decoder.scale_factor[1])
        w, h = metainfo['input_size']
        return w / heatmaps.shape[-1], h / heatmaps.shape[-2]

    def _suppress_padded_centres(self, heatmaps: Tensor,
                                 batch_data_samples: OptSampleList) -> Tensor:
        """Zero the centre heatmap outside each image's ``input_size`` (B, K+1, h, w).

        A batch of differently sized images is padded right/bottom to a common size; a centre
        found in an image's padding would be a person outside it. For one unpadded image this is
        a no-op, so batch-1 results are DEKR's.
        """
        h, w = heatmaps.shape[-2:]
        sx, sy = self._stride(heatmaps, batch_data_samples[0].metainfo)
        valid = []
        for ds in batch_data_samples:
            in_w, in_h = ds.metainfo.get('input_size', (w * sx, h * sy))
            valid.append((math.ceil(in_h / sy), math.ceil(in_w / sx)))
        if all(vh >= h and vw >= w for vh, vw in valid):
            return heatmaps
        heatmaps = heatmaps.clone()
        for b, (vh, vw) in enumerate(valid):
            heatmaps[b, -1, vh:] = 0
            heatmaps[b, -1, :, vw:] = 0
        return heatmaps
