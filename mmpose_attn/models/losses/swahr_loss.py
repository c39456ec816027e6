"""SWAHR: scale- and weight-adaptive heatmap loss (formula: configs/samkr/README.md)."""
from typing import Dict, Optional

import torch
from mmpose.models.losses.heatmap_loss import KeypointMSELoss
from mmpose.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class SWAHRLoss(KeypointMSELoss):
    """Scale- and weight-adaptive heatmap loss, usable as ``DEKRHead``/``SAMKRHead``
    ``heatmap_loss``.

    "Rethinking the Heatmap Regression for Bottom-up Human Pose Estimation" (Luo et al.,
    CVPR 2021): an MSE against the heatmap raised to 1 + s, with a weight that balances
    foreground and background (the formula as read here: configs/samkr/README.md).

    Args:
        use_target_weight (bool): Multiply by the target weights, as ``KeypointMSELoss``.
        skip_empty_channel (bool): As ``KeypointMSELoss``.
        loss_weight (float): Weight of the heatmap term.
        gamma (float): gamma of the weight-adaptive factor. Defaults to 0.01.
        scale_loss_weight (float): Weight of the scale regulariser. Defaults to 1.
        weight_adaptive (bool): Use the weight-adaptive factor (else Wa = 1). Defaults to True.

    Shapes:
        output, target (B, C, h, w); scale maps (B, C_s, h, w) with C_s <= C -> scalar losses.
    """

    def __init__(self,
                 use_target_weight: bool = True,
                 skip_empty_channel: bool = False,
                 loss_weight: float = 1.,
                 gamma: float = 0.01,
                 scale_loss_weight: float = 1.,
                 weight_adaptive: bool = True):
        super().__init__(
            use_target_weight=use_target_weight,
            skip_empty_channel=skip_empty_channel,
            loss_weight=loss_weight)
        if gamma < 0:
            raise ValueError(f'SWAHRLoss: gamma={gamma} must be >= 0')
        self.gamma = gamma
        self.scale_loss_weight = scale_loss_weight
        self.weight_adaptive = weight_adaptive

    def loss_terms(self,
                   output: Tensor,
                   target: Tensor,
                   target_weights: Optional[Tensor] = None,
                   mask: Optional[Tensor] = None,
                   scale: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Both terms, weighted.

        Args:
            output (Tensor): P, (B, C, h, w).
            target (Tensor): H, (B, C, h, w), values in [0, 1].
            target_weights (Tensor, optional): (B, C) or (B, C, h, w).
            mask (Tensor, optional): (B, C, h, w) or (B, 1, h, w).
            scale (Tensor, optional): s, (B, C_s, h, w) with C_s <= C, for the first C_s channels.

        Returns:
            dict: ``heatmap`` (L_hm) and ``scale`` (L_s, zero without ``scale``), fp32 also
            under autocast.
        """
        device_type = output.device.type
        if torch.is_autocast_enabled(device_type):
            # fp32 inside autocast: ln H reaches -inf-like values at the Gaussians' tails
            # (ln of 1e-4 is -9.2) and the target's second-order term squares it
            with torch.autocast(device_type, enabled=False):
                return self._loss_terms(*(None if t is None else t.float()
                                          for t in (output, target, target_weights, mask, scale)))
        return self._loss_terms(output, target, target_weights, mask, scale)

    def _loss_terms(self, output: Tensor, target: Tensor, target_weights: Optional[Tensor],
                    mask: Optional[Tensor], scale: Optional[Tensor]) -> Dict[str, Tensor]:
        gt = target
        pos = gt > 0
        if scale is not None:
            c_s = scale.shape[1]
            if scale.shape[0] != target.shape[0] or scale.shape[2:] != target.shape[2:] or \
                    c_s > target.shape[1]:
                raise ValueError(f'SWAHRLoss: scale of shape {tuple(scale.shape)} does not fit '
                                 f'target of shape {tuple(target.shape)}')
            # ln only where H > 0: the clamp keeps log finite (and its gradient 0) elsewhere
            h = gt[:, :c_s]
            log_h = torch.where(pos[:, :c_s], torch.log(h.clamp(min=torch.finfo(h.dtype).tiny)),
                                torch.zeros_like(h))
            s = scale * pos[:, :c_s]
            h_log_s = h * log_h * s
            scaled = h + h_log_s + 0.5 * h_log_s * log_h * s
            target = torch.cat((scaled, gt[:, c_s:]), dim=1)

        err = (output - target).pow(2)
        if self.weight_adaptive:
            h_gamma = gt.pow(self.gamma)
            err = err * ((1 - output).abs() * h_gamma + output.abs() * (1 - h_gamma))

        _mask = self._get_mask(gt, target_weights, mask)
        if _mask is not None:
            err = err * _mask
        terms = dict(heatmap=err.mean() * self.loss_weight)

        if scale is None:
            terms['scale'] = output.new_zeros(())
        else:
            reg = s.pow(2)
            if _mask is not None:
                reg = reg * _mask[:, :c_s] if _mask.shape[1] != 1 else reg * _mask
            # a mean over all B*C_s*h*w scale-map pixels, as the reference code
            terms['scale'] = reg.sum() / reg.numel() * self.scale_loss_weight
        return terms

    def forward(self,
                output: Tensor,
                target: Tensor,
                target_weights: Optional[Tensor] = None,
                mask: Optional[Tensor] = None,
                scale: Optional[Tensor] = None) -> Tensor:
        """L_hm + L_s as one tensor (heads that log the terms apart call :meth:`loss_terms`)."""
        terms = self.loss_terms(output, target, target_weights, mask, scale)
        return terms['heatmap'] + terms['scale']
