"""SAMKR head: DEKR with ULSAM subspace attention in its displacement branch."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import Sequential
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, OptSampleList
from torch import Tensor

from ..layers.adaptive_activation_block import ChannelFirstAdaptiveActivationBlock
from ..layers.grid_sample_deform_conv import IMPLS as DEFORM_IMPLS
from ..layers.grid_sample_deform_conv import convert_deform_convs
from ..layers.swahr_scale_branch import SWAHRScaleBranch
from ..layers.ulsam import ULSAM
from .batch_dekr_head import BatchDEKRHead

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
            f'SAMKRHead: per-keypoint branches need m = K*c, got num_displacement_filters m={m}, '
            f'num_keypoints K={num_keypoints}, num_displacement_filters_per_keypoint c={c} '
            f'(K*c={num_keypoints * c})')
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
class SAMKRHead(BatchDEKRHead):
    """DEKR head whose displacement branch adds ULSAM subspace attention.

    "SAMKR: Bottom-up Keypoint Regression Pose Estimation Method Based On Subspace Attention
    Module" (Chen, Zhou, Liu, Zhang). Displacement branch: 1x1 ConvModule to m = K*c channels,
    DEKR's adaptive activation blocks (grouped per branch), ULSAM with g subspaces per branch,
    grouped 1x1 conv to 2K; the rest is :class:`DEKRHead`'s (configs/samkr/README.md).

    Args:
        in_channels (int): Channels of the input feature map (480 for HRNet-W32 concat).
        num_keypoints (int): K.
        num_heatmap_filters (int): Heatmap-branch width, as DEKR. Defaults to 32.
        num_displacement_filters_per_keypoint (int): c, channels per branch. Defaults to 16.
        num_displacement_filters (int, optional): m, channels after the first 1x1 conv. Defaults
            to K*c (per-keypoint) or c (shared); given explicitly it is checked.
        num_subspaces (int): g, subspaces per branch. Defaults to 8 (s = 2).
        subspace_channels (int, optional): s; only checked against c / g.
        branch (str): ``'per_keypoint'`` (K independent branches) or ``'shared'`` (one branch of
            c = m channels, a dense 1x1 output conv; the paper's Table 1 baseline).
        num_adaptive_blocks (int): DEKR adaptive activation blocks per branch. Defaults to 2.
        ulsam_with_norm_act (bool): BN + ReLU inside ULSAM (public ULSAM code, BN momentum
            0.9 as that code passes it). Defaults to ``False``, the paper's equation.
        deform_conv_impl (str): the adaptive blocks' deformable conv: ``'auto'`` (mmcv's kernel
            on CUDA when the installed mmcv has its CUDA ops, else ``grid_sample``; logged
            once), ``'grid_sample'`` or ``'mmcv'`` (stock DEKR's).
            Numerically the same; only speed differs. Defaults to ``'auto'``.
        with_scale_maps (bool): Predict K SWAHR scale maps for the loss with SWAHR's scale
            branch (s = 0 at initialisation). Defaults to ``False``.
        heatmap_loss, displacement_loss, decoder, rescore_cfg, init_cfg: as :class:`DEKRHead`.
            ``rescore_cfg`` takes ``init_cfg=dict(type='Pretrained', checkpoint=...)`` to load
            DEKR's official rescore weights; ``None`` runs without rescoring.

    Shapes:
        forward(feats) with feats[-1] (B, in_channels, h, w) returns heatmaps (B, K+1, h, w)
        (K keypoints then the centre) and displacements (B, 2K, h, w).
    """

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
                     type='SoftWeightSmoothL1Loss', use_target_weight=True, supervise_empty=False),
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
        self.scale_branch: Optional[SWAHRScaleBranch] = None
        if with_scale_maps:
            if not hasattr(self.loss_module['heatmap'], 'loss_terms'):
                raise ValueError(
                    f'SAMKRHead: with_scale_maps=True needs a heatmap_loss that uses scale maps '
                    f'(e.g. SWAHRLoss), got heatmap_loss type={heatmap_loss.get("type")!r}')
            # on the features the heatmap predictor reads, as SWAHR's branch sits beside
            # HigherHRNet's final heatmap conv
            self.scale_branch = SWAHRScaleBranch(num_heatmap_filters, num_keypoints)

    def _make_displacement_conv_layers(self, in_channels: int, out_channels: int, num_filters: int,
                                       groups: int) -> Sequential:
        """Build the SAMKR displacement branch from ``self.structure`` (DEKR's ``num_filters``
        and ``groups`` arguments are superseded by m and the branch count)."""
        st = self.structure
        m, nb = st['m'], st['num_branches']
        layers = [ConvModule(in_channels, m, kernel_size=1, norm_cfg=dict(type='BN'))]
        layers += [
            convert_deform_convs(
                ChannelFirstAdaptiveActivationBlock(m, m, groups=nb), self.deform_conv_impl)
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
        if self.scale_branch is None:
            heatmaps = self.heatmap_conv_layers(x)
            scales = None
        else:
            *body, last = self.heatmap_conv_layers
            x_hm = x
            for layer in body:
                x_hm = layer(x_hm)
            heatmaps, scales = last(x_hm), self.scale_branch(x_hm)
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
        heatmap_mask = (
            torch.stack([f.heatmap_mask
                         for f in gt_fields]) if 'heatmap_mask' in gt_fields[0] else None)

        heatmap_loss = self.loss_module['heatmap']
        if pred_scales is not None:
            terms = heatmap_loss.loss_terms(
                pred_heatmaps, gt_heatmaps, heatmap_weights, heatmap_mask, scale=pred_scales)
            losses = {'loss/heatmap': terms['heatmap'], 'loss/scale': terms['scale']}
        else:
            losses = {
                'loss/heatmap': heatmap_loss(pred_heatmaps, gt_heatmaps, heatmap_weights,
                                             heatmap_mask)
            }
        losses['loss/displacement'] = self.loss_module['displacement'](pred_displacements,
                                                                       gt_displacements,
                                                                       displacement_weights)
        return losses
