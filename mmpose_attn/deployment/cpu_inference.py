"""Preparing a built pose model for fast CPU inference in PyTorch (fp32, or bf16 autocast).

On CPU, oneDNN's convolutions are fastest on ``channels_last`` tensors, and with bf16 instructions
(AVX512-bf16, AMX) under ``torch.autocast('cpu', dtype=torch.bfloat16)``. Stock mmpose DEKR runs
neither: mmcv's ``DeformConv2d`` needs contiguous tensors and has no bf16 CPU kernel. Its
deformable convolutions become :class:`GridSampleDeformConv2d` (same weight, same outputs; under
autocast it computes in fp32) and its adaptive activation blocks
:class:`ChannelFirstAdaptiveActivationBlock` (same outputs, no 6-D permutes). Only module classes
and memory layout change: parameters, state-dict keys and results stay as they were.
"""
from typing import Optional

import torch
from torch import nn

from ..models.layers.adaptive_activation_block import convert_adaptive_activation_blocks
from ..models.layers.grid_sample_deform_conv import GridSampleDeformConv2d, convert_deform_convs

#: Precisions :func:`prepare_for_cpu_inference` takes.
PRECISIONS = ('fp32', 'bf16')


def prepare_for_cpu_inference(model: nn.Module,
                              precision: str = 'fp32',
                              channels_last: Optional[bool] = None) -> nn.Module:
    """Make a built pose model run fast on CPU in PyTorch, in place.

    * every :class:`mmcv.ops.DeformConv2d` becomes a :class:`GridSampleDeformConv2d` and every
      ``GridSampleDeformConv2d`` runs its ``grid_sample`` kernel (mmcv's CPU kernel is
      single-threaded and takes neither ``channels_last`` nor bf16);
    * mmpose's ``AdaptiveActivationBlock`` becomes :class:`ChannelFirstAdaptiveActivationBlock`;
    * with ``channels_last``, 4-D parameters and buffers are put in ``torch.channels_last``
      memory format (convolutions then run and return channels_last; inputs may stay NCHW).

    The caller runs the forward under ``torch.autocast('cpu', dtype=torch.bfloat16)`` for
    ``'bf16'``; nothing here casts weights, so the same model serves both precisions. Training
    mode is not changed.

    Args:
        model (nn.Module): A built pose estimator (or any module), on CPU.
        precision (str): ``'fp32'`` or ``'bf16'``: the precision the caller will run at.
        channels_last (bool, optional): Use ``torch.channels_last``. Defaults to ``None``:
            ``True`` for ``'bf16'`` (oneDNN's bf16 convolutions want it), ``False`` for
            ``'fp32'`` (the plain layout; ``True`` gives the same results and may be faster, see
            docs/inference.md for measurements).

    Returns:
        nn.Module: ``model``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'prepare_for_cpu_inference: precision={precision!r} is not one of '
                         f'{PRECISIONS}')
    convert_adaptive_activation_blocks(model)
    convert_deform_convs(model, impl='grid_sample')
    for m in model.modules():
        if isinstance(m, GridSampleDeformConv2d):
            m.impl = 'grid_sample'
    if channels_last is None:
        channels_last = precision == 'bf16'
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model
