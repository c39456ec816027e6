"""Deformable convolution as ``grid_sample`` + one batched matmul, for fast CPU inference.

Parameters, values and gradients are those of :class:`mmcv.ops.DeformConv2d` (checkpoints move
between the two); sampling rules in configs/samkr/README.md, speed in docs/analysis.md.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import DeformConv2d
from torch import Tensor, nn

IMPLS = ('auto', 'grid_sample', 'mmcv')


def _next_pow2(n: int) -> int:
    """The smallest power of two >= ``n``."""
    return 1 << (n - 1).bit_length()


def mmcv_has_cuda_ops() -> bool:
    """Whether the installed mmcv was built with its CUDA ops (``MMCV_WITH_CUDA``)."""
    try:
        from mmcv.ops import get_compiling_cuda_version
        return get_compiling_cuda_version() not in ('not available', '')
    except Exception:  # an mmcv without compiled ops at all
        return False


def choose_deform_conv_impl(impl: str, is_cuda: bool, mmcv_cuda_ops: bool) -> str:
    """The kernel a ``GridSampleDeformConv2d`` runs: ``'mmcv'`` or ``'grid_sample'``.

    ``'auto'`` takes mmcv's kernel for CUDA tensors when the installed mmcv has its CUDA ops,
    else ``grid_sample`` (always on CPU, where it is faster). ``'mmcv'`` and ``'grid_sample'``
    are taken as asked; ``'mmcv'`` on CUDA without mmcv's CUDA ops raises, naming the fix.
    """
    if impl not in IMPLS:
        raise ValueError(f'GridSampleDeformConv2d: impl={impl!r} is not one of {IMPLS}')
    if impl == 'auto':
        return 'mmcv' if is_cuda and mmcv_cuda_ops else 'grid_sample'
    if impl == 'mmcv' and is_cuda and not mmcv_cuda_ops:
        raise RuntimeError("deform_conv_impl='mmcv' on CUDA needs mmcv built with its CUDA ops "
                           "(MMCV_WITH_OPS=1 FORCE_CUDA=1); use 'auto' or 'grid_sample'")
    return impl


_LOGGED = set()


def _log_choice_once(impl: str, device: str, chosen: str) -> None:
    """Log the kernel ``deform_conv_impl='auto'`` chose, once per (impl, device, kernel)."""
    from mmengine.logging import print_log
    key = (impl, device, chosen)
    if key not in _LOGGED:
        _LOGGED.add(key)
        print_log(
            f"GridSampleDeformConv2d: impl={impl!r} on {device} runs the "
            f"{'mmcv DeformConv2d' if chosen == 'mmcv' else 'grid_sample'} kernel",
            logger='current')


class GridSampleDeformConv2d(DeformConv2d):
    """:class:`mmcv.ops.DeformConv2d` computed with ``torch.nn.functional.grid_sample``.

    Args:
        *args, **kwargs: as :class:`mmcv.ops.DeformConv2d` (``bias`` must stay ``False``).
        impl (str): ``'auto'`` (default: mmcv's kernel on CUDA when the installed mmcv has its
            CUDA ops, else ``grid_sample``; logged once), ``'grid_sample'`` (always) or
            ``'mmcv'`` (always mmcv's kernel). See :func:`choose_deform_conv_impl`.

    Shapes:
        x (B, C_in, H, W) and offset (B, 2*deform_groups*kh*kw, H_out, W_out), laid out as
        mmcv's ``[y0, x0, y1, x1, ...]`` per deform group, give (B, C_out, H_out, W_out).
    """

    def __init__(self, *args, impl: str = 'auto', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if impl not in IMPLS:
            raise ValueError(f'GridSampleDeformConv2d: impl={impl!r} is not one of {IMPLS}')
        self.impl = impl

    _mmcv_cuda_ops: Optional[bool] = None  # probed once per process

    def forward(self, x: Tensor, offset: Tensor) -> Tensor:
        """Deformable conv on the chosen kernel; fp32 inside autocast.

        Shapes: x (B, C, H, W), offset (B, 2*D*kh*kw, Ho, Wo) -> (B, C_out, Ho, Wo).
        """
        if x.is_cuda and GridSampleDeformConv2d._mmcv_cuda_ops is None:
            GridSampleDeformConv2d._mmcv_cuda_ops = mmcv_has_cuda_ops()
        chosen = choose_deform_conv_impl(self.impl, x.is_cuda,
                                         bool(GridSampleDeformConv2d._mmcv_cuda_ops))
        if self.impl == 'auto':
            _log_choice_once(self.impl, x.device.type, chosen)
        if torch.is_autocast_enabled(x.device.type):
            # both kernels in fp32 under autocast: bilinear weights and the offset gradient
            # (differences of neighbouring pixels) lose too much in half precision
            with torch.autocast(x.device.type, enabled=False):
                return self._run(chosen, x.float(), offset.float())
        return self._run(chosen, x, offset)

    def _run(self, chosen: str, x: Tensor, offset: Tensor) -> Tensor:
        """mmcv's kernel or the ``grid_sample`` one, as ``chosen``."""
        if chosen == 'mmcv':
            return super().forward(x, offset)
        return self._sampled_forward(x, offset)

    def _out_size(self, h: int, w: int) -> Tuple[int, int]:
        """Output (Ho, Wo) of an (h, w) input, as a conv's."""
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (self.kernel_size, self.stride, self.padding,
                                                  self.dilation)
        return ((h + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
                (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1)

    def _sampled_forward(self, x: Tensor, offset: Tensor) -> Tensor:
        """The ``grid_sample`` kernel: bilinear samples at the offset taps, then a matmul."""
        B, C, H, W = x.shape
        G, D = self.groups, self.deform_groups
        (kh, kw), K = self.kernel_size, self.kernel_size[0] * self.kernel_size[1]
        Ho, Wo = self._out_size(H, W)
        if offset.shape != (B, 2 * D * K, Ho, Wo):
            raise ValueError(f'GridSampleDeformConv2d: offset has shape {tuple(offset.shape)}, '
                             f'expected {(B, 2 * D * K, Ho, Wo)} for input {tuple(x.shape)}')
        # sampling positions in pixels, (B, D, K, Ho, Wo) each; reshape, not view: under
        # ``channels_last`` the offset, input and weight are not contiguous
        off = offset.reshape(B, D, K, 2, Ho, Wo)
        ys = (torch.arange(Ho, device=x.device, dtype=x.dtype) * self.stride[0] - self.padding[0])
        xs = (torch.arange(Wo, device=x.device, dtype=x.dtype) * self.stride[1] - self.padding[1])
        ky = (torch.arange(kh, device=x.device, dtype=x.dtype) *
              self.dilation[0]).repeat_interleave(kw)
        kx = (torch.arange(kw, device=x.device, dtype=x.dtype) * self.dilation[1]).repeat(kh)
        py = off[:, :, :, 0] + (ky[:, None] + ys[None, :])[:, :, None]
        px = off[:, :, :, 1] + (kx[:, None] + xs[None, :])[:, None, :]
        Hs, Ws = H, W
        if torch.is_grad_enabled() and offset.requires_grad and not torch.jit.is_tracing():
            # mmcv's gradient rule at integer coordinates (module docstring): exact round
            # trip on power-of-two sizes, and no gradient exactly at -1 (only for training:
            # an exported graph is for inference and keeps its sizes symbolic)
            Hs, Ws = _next_pow2(H), _next_pow2(W)
            if (Hs, Ws) != (H, W):
                x = F.pad(x, (0, Ws - W, 0, Hs - H))
            py = torch.where(py == -1, py.detach(), py)
            px = torch.where(px == -1, px.detach(), px)
        grid = torch.stack(((2 * px + 1) / Ws - 1, (2 * py + 1) / Hs - 1), dim=-1)
        # one grid_sample per deform group: rows = kernel taps, columns = output pixels
        cols = F.grid_sample(
            x.reshape(B * D, C // D, Hs, Ws),
            grid.reshape(B * D, K, Ho * Wo, 2),
            mode='bilinear',
            padding_mode='zeros',
            align_corners=False)
        # (B*D, C/D, K, Ho*Wo) -> (B, G, C/G*K, Ho*Wo): channel-major as the weight's (C/G, kh, kw)
        cols = cols.reshape(B, G, (C // G) * K, Ho * Wo)
        weight = self.weight.reshape(G, self.out_channels // G, (C // G) * K)
        return torch.matmul(weight, cols).view(B, self.out_channels, Ho, Wo)


def convert_deform_convs(module: nn.Module, impl: str = 'auto') -> nn.Module:
    """Swap every :class:`mmcv.ops.DeformConv2d` inside ``module`` for a
    :class:`GridSampleDeformConv2d` with the same arguments and weight, in place.

    For example ``convert_deform_convs(dekr_model)`` gives stock mmpose DEKR the fast CPU kernel
    with unchanged outputs. Only modules whose type is exactly ``DeformConv2d`` are swapped:
    subclasses such as ``DeformConv2dPack`` compute their own offsets in ``forward``.

    Returns:
        nn.Module: ``module`` itself (also when it is a ``DeformConv2d``: then the new conv).
    """

    def convert(conv: DeformConv2d) -> GridSampleDeformConv2d:
        new = GridSampleDeformConv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            deform_groups=conv.deform_groups,
            im2col_step=conv.im2col_step,
            impl=impl)
        new.weight = conv.weight  # the same Parameter: optimisers and state dicts see no change
        return new.train(conv.training)

    if type(module) is DeformConv2d:
        return convert(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is DeformConv2d:
                setattr(parent, name, convert(child))
    return module
