"""SAMKR head: DEKR with ULSAM subspace attention in the keypoint-regression (displacement) branch.

"SAMKR: Bottom-up Keypoint Regression Pose Estimation Method Based On Subspace Attention Module"
(Chen, Zhou, Liu, Zhang). Displacement branch, for K keypoints::

    1×1 conv + BN + ReLU       in_channels -> m = n_branch · c       (n_branch = K, or 1 if shared)
    AdaptiveActivationBlock ×2 groups = n_branch   (DEKR's deformable "adaptive activation")
    ULSAM                      G = n_branch · g subspaces of s = c / g channels each
    grouped 1×1 conv           m -> 2K, groups = n_branch

Everything else (heatmap branch with K keypoint + 1 centre heatmaps, losses, SPR decoding, flip
test, rescoring, pose NMS) is mmpose's :class:`DEKRHead`.

Parameter budget (why two adaptive blocks and c = 16): mmpose's DEKR-W32 (c = 15, two adaptive
blocks) has 29.56 M parameters (backbone 29.31 M, head 0.26 M) and DEKR-W48 65.68 M. The paper
reports 29.6 M / 65.7 M for SAMKR, i.e. the same budget. Keeping DEKR's two adaptive blocks and
adding ULSAM at c = 16, g = 8 (ULSAM adds only ~2·m + G weights) gives 29.58 M (W32) and 65.71 M
(W48), inside the paper's numbers; one adaptive block would give ~29.53 M, so the reading with
DEKR's two blocks is the one that matches. ``num_adaptive_blocks`` stays configurable.

Extras over DEKR:

* ``with_scale_maps``: a 1×1 conv on the heatmap branch's features predicts K SWAHR scale maps,
  used only by the loss (:class:`SWAHRLoss`); inference never computes them.
* ``deform_conv_impl``: the adaptive blocks' deformable convolution runs as
  :class:`GridSampleDeformConv2d` (same weights and results as mmcv's ``DeformConv2d``; on CPU
  ~8× faster than mmcv's single-threaded kernel, on CUDA mmcv's kernel by default).
* ``predict`` decodes every image of a batch (DEKR asserts batch size 1). The network runs once per
  batch (plus once on the flipped batch); decoding reuses DEKR's per-image SPR decode. In a batch
  of differently sized images (padded right/bottom by the data preprocessor) centres inside an
  image's padding are ignored; the network itself still sees the padding, so such an image's
  result can differ slightly from a batch-1 run (same-size images give identical results).
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import Sequential
from mmengine.structures import PixelData
from torch import Tensor, nn

from mmpose.models.heads.hybrid_heads.dekr_head import AdaptiveActivationBlock, DEKRHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import MODELS
from mmpose.utils.typing import (ConfigType, Features, OptConfigType, OptSampleList,
                                 Predictions)
from ..layers.grid_sample_deform_conv import IMPLS as DEFORM_IMPLS
from ..layers.grid_sample_deform_conv import convert_deform_convs
from ..layers.ulsam import ULSAM

BRANCH_TYPES = ('per_keypoint', 'shared')


def samkr_structure(num_keypoints: int,
                    branch: str,
                    m: Optional[int],
                    c: int,
                    g: int,
                    s: Optional[int] = None) -> dict:
    """Validate a displacement-branch structure and fill in the derived values.

    Returns:
        dict: ``branch``, ``num_branches``, ``m``, ``c``, ``g``, ``s``.

    Raises:
        ValueError: naming the offending values when the combination is impossible.
    """
    if branch not in BRANCH_TYPES:
        raise ValueError(f'SAMKRHead: branch={branch!r} must be one of {BRANCH_TYPES}')
    num_branches = num_keypoints if branch == 'per_keypoint' else 1
    if m is None:
        m = num_branches * c
    if branch == 'per_keypoint' and m != num_keypoints * c:
        raise ValueError(
            f'SAMKRHead: per-keypoint branches need m = K·c, got num_displacement_filters m={m}, '
            f'num_keypoints K={num_keypoints}, num_displacement_filters_per_keypoint c={c} '
            f'(K·c={num_keypoints * c})')
    if branch == 'shared' and m != c:
        raise ValueError(
            f'SAMKRHead: the shared single branch needs c = m, got num_displacement_filters '
            f'm={m}, num_displacement_filters_per_keypoint c={c}')
    if g < 1 or c % g != 0:
        raise ValueError(f'SAMKRHead: num_subspaces g={g} must divide the branch channels c={c}')
    if s is not None and s != c // g:
        raise ValueError(f'SAMKRHead: subspace_channels s={s} must equal c/g = {c}/{g} = {c // g}')
    return dict(branch=branch, num_branches=num_branches, m=m, c=c, g=g, s=c // g)


@MODELS.register_module()
class SAMKRHead(DEKRHead):
    """DEKR head whose displacement branch adds ULSAM subspace attention.

    Args:
        in_channels (int): Channels of the input feature map (480 for HRNet-W32 concat).
        num_keypoints (int): K.
        num_heatmap_filters (int): Heatmap-branch width, as DEKR. Defaults to 32.
        num_displacement_filters_per_keypoint (int): c, channels per branch. Defaults to 16.
        num_displacement_filters (int, optional): m, channels after the first 1×1 conv. Defaults
            to K·c (per-keypoint) or c (shared); given explicitly it is checked.
        num_subspaces (int): g, subspaces per branch. Defaults to 8 (s = 2).
        subspace_channels (int, optional): s; only checked against c / g.
        branch (str): ``'per_keypoint'`` (K independent branches) or ``'shared'`` (one branch of
            c = m channels, a dense 1×1 output conv; the paper's Table 1 baseline).
        num_adaptive_blocks (int): DEKR adaptive activation blocks per branch. Defaults to 2.
        ulsam_with_norm_act (bool): BN + ReLU inside ULSAM (public ULSAM code). Defaults to
            ``False``, the paper's equation.
        deform_conv_impl (str): the adaptive blocks' deformable conv: ``'auto'`` (``grid_sample``
            on CPU, mmcv's kernel on CUDA), ``'grid_sample'`` or ``'mmcv'`` (stock DEKR's).
            Numerically the same; only speed differs. Defaults to ``'auto'``.
        with_scale_maps (bool): Predict K SWAHR scale maps for the loss. Defaults to ``False``.
        heatmap_loss, displacement_loss, decoder, rescore_cfg, init_cfg: as :class:`DEKRHead`.
            ``rescore_cfg`` takes ``init_cfg=dict(type='Pretrained', checkpoint=...)`` to load
            DEKR's official rescore weights; ``None`` runs without rescoring.

    Shapes:
        forward(feats) with feats[-1] (B, in_channels, h, w) returns heatmaps (B, K+1, h, w)
        (K keypoints then the centre) and displacements (B, 2K, h, w).
    """

    supports_batch_predict = True

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 num_keypoints: int,
                 num_heatmap_filters: int = 32,
                 num_displacement_filters_per_keypoint: int = 16,
                 num_displacement_filters: Optional[int] = None,
                 num_subspaces: int = 8,
                 subspace_channels: Optional[int] = None,
                 branch: str = 'per_keypoint',
                 num_adaptive_blocks: int = 2,
                 ulsam_with_norm_act: bool = False,
                 deform_conv_impl: str = 'auto',
                 with_scale_maps: bool = False,
                 heatmap_loss: ConfigType = dict(type='KeypointMSELoss', use_target_weight=True),
                 displacement_loss: ConfigType = dict(
                     type='SoftWeightSmoothL1Loss', use_target_weight=True,
                     supervise_empty=False),
                 decoder: OptConfigType = None,
                 rescore_cfg: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        # set before DEKRHead.__init__, which calls _make_displacement_conv_layers
        self.structure = samkr_structure(num_keypoints, branch, num_displacement_filters,
                                         num_displacement_filters_per_keypoint, num_subspaces,
                                         subspace_channels)
        if num_adaptive_blocks < 0:
            raise ValueError(f'SAMKRHead: num_adaptive_blocks={num_adaptive_blocks} must be >= 0')
        self.num_adaptive_blocks = num_adaptive_blocks
        self.ulsam_with_norm_act = ulsam_with_norm_act
        if deform_conv_impl not in DEFORM_IMPLS:
            raise ValueError(f'SAMKRHead: deform_conv_impl={deform_conv_impl!r} is not one of '
                             f'{DEFORM_IMPLS}')
        self.deform_conv_impl = deform_conv_impl
        super().__init__(
            in_channels=in_channels,
            num_keypoints=num_keypoints,
            num_heatmap_filters=num_heatmap_filters,
            num_displacement_filters_per_keypoint=num_displacement_filters_per_keypoint,
            heatmap_loss=heatmap_loss,
            displacement_loss=displacement_loss,
            decoder=decoder,
            rescore_cfg=rescore_cfg,
            init_cfg=init_cfg)

        self.with_scale_maps = with_scale_maps
        self.scale_conv: Optional[nn.Module] = None
        if with_scale_maps:
            if not hasattr(self.loss_module['heatmap'], 'loss_terms'):
                raise ValueError(
                    f'SAMKRHead: with_scale_maps=True needs a heatmap_loss that uses scale maps '
                    f'(e.g. SWAHRLoss), got heatmap_loss type={heatmap_loss.get("type")!r}')
            self.scale_conv = build_conv_layer(
                dict(type='Conv2d'), num_heatmap_filters, num_keypoints, kernel_size=1)

    def _make_displacement_conv_layers(self, in_channels: int, out_channels: int,
                                       num_filters: int, groups: int) -> Sequential:
        """Build the SAMKR displacement branch from ``self.structure`` (DEKR's ``num_filters``
        and ``groups`` arguments are superseded by m and the branch count)."""
        st = self.structure
        m, nb = st['m'], st['num_branches']
        layers = [ConvModule(in_channels, m, kernel_size=1, norm_cfg=dict(type='BN'))]
        layers += [
            convert_deform_convs(AdaptiveActivationBlock(m, m, groups=nb), self.deform_conv_impl)
            for _ in range(self.num_adaptive_blocks)
        ]
        layers += [
            ULSAM(m, num_subspaces=nb * st['g'], with_norm_act=self.ulsam_with_norm_act),
            build_conv_layer(dict(type='Conv2d'), m, out_channels, kernel_size=1, groups=nb),
        ]
        return Sequential(*layers)

    def forward_train(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Optional[Tensor], Tensor]:
        """Forward for the loss: heatmaps (B, K+1, h, w), scale maps (B, K, h, w) or ``None``,
        displacements (B, 2K, h, w)."""
        x = feats[-1]
        if self.scale_conv is None:
            heatmaps = self.heatmap_conv_layers(x)
            scales = None
        else:
            *body, last = self.heatmap_conv_layers
            x_hm = x
            for layer in body:
                x_hm = layer(x_hm)
            heatmaps, scales = last(x_hm), self.scale_conv(x_hm)
        return heatmaps, scales, self.displacement_conv_layers(x)

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """DEKR's losses; with scale maps the heatmap loss also returns ``loss/scale``.

        Returns:
            dict: ``loss/heatmap``, ``loss/displacement`` and, with ``with_scale_maps``,
            ``loss/scale``.
        """
        pred_heatmaps, pred_scales, pred_displacements = self.forward_train(feats)
        gt_fields = [d.gt_fields for d in batch_data_samples]
        gt_heatmaps = torch.stack([f.heatmaps for f in gt_fields])
        heatmap_weights = torch.stack([f.heatmap_weights for f in gt_fields])
        gt_displacements = torch.stack([f.displacements for f in gt_fields])
        displacement_weights = torch.stack([f.displacement_weights for f in gt_fields])
        heatmap_mask = (torch.stack([f.heatmap_mask for f in gt_fields])
                        if 'heatmap_mask' in gt_fields[0] else None)

        heatmap_loss = self.loss_module['heatmap']
        if pred_scales is not None:
            terms = heatmap_loss.loss_terms(pred_heatmaps, gt_heatmaps, heatmap_weights,
                                            heatmap_mask, scale=pred_scales)
            losses = {'loss/heatmap': terms['heatmap'], 'loss/scale': terms['scale']}
        else:
            losses = {'loss/heatmap': heatmap_loss(pred_heatmaps, gt_heatmaps, heatmap_weights,
                                                   heatmap_mask)}
        losses['loss/displacement'] = self.loss_module['displacement'](
            pred_displacements, gt_displacements, displacement_weights)
        return losses

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
                raise ValueError('SAMKRHead: multiscale_test=True needs batch size 1 (as DEKR), '
                                 f'got {len(batch_data_samples)} samples')
            return super().predict(feats, batch_data_samples, test_cfg)

        metainfo = batch_data_samples[0].metainfo
        if test_cfg.get('flip_test', False):
            if not (isinstance(feats, (list, tuple)) and len(feats) == 2):
                raise ValueError('SAMKRHead: flip_test=True expects feats=[feats, feats_flipped]')
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
