"""ONNX export of a pose model's tensor forward, with its deployment metadata.

The graph is ``backbone -> neck -> head.forward`` (what ``model(x, mode='tensor')`` returns): input
``input`` (N, 3, H, W), already normalised by the data preprocessor; outputs ``heatmaps``
(N, K, h, w) for a top-down heatmap model, or ``heatmaps`` (N, K+1, h, w) and ``displacements``
(N, 2K, h, w) for a DEKR-style bottom-up model (DEKR, SAMKR). The batch axis is dynamic. A
bottom-up model may also be exported with dynamic height and width (``dynamic_hw``): mmpose's neck
resizes the HRNet branches to a size it turns into Python ints, which the tracer would record as
constants, so :func:`prepare_for_export` swaps the neck for :class:`ShapeGenericFeatureMapProcessor`
(same outputs, sizes kept symbolic), and :func:`export_onnx` checks the file against PyTorch at a
second size before writing it. Top-down crops have one size, the codec's. Preprocessing, flip
test and decoding stay outside the graph: they are mmpose's.

Deformable convolutions (DEKR's and SAMKR's adaptive activation blocks) are exported as
:class:`GridSampleDeformConv2d`'s ``grid_sample`` + ``matmul`` (``GridSample`` is standard ONNX
from opset 16), so stock ONNX Runtime runs the models without mmcv's custom ops; the weights and
outputs are those of :class:`mmcv.ops.DeformConv2d`. Models without them (ESAM) export at lower
opsets too (11, mmdeploy's default).

ONNX Runtime runs the file under an mmpose estimator in :mod:`.onnxruntime_backend`.
"""
import os
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv.ops import DeformConv2d
from mmengine.config import Config
from mmpose.models.necks import FeatureMapProcessor
from torch import Tensor, nn
from torch.nn import functional as F

from ..models.layers.adaptive_activation_block import convert_adaptive_activation_blocks
from ..models.layers.grid_sample_deform_conv import GridSampleDeformConv2d, convert_deform_convs
from ..utils import TensorForward
from ..utils import build_model as build_config_model
from ..utils import time_interleaved
from .base import is_bottomup, output_names
from .metadata import deploy_metadata, pipeline_facts, write_with_metadata
from .onnxruntime_backend import ort_session

#: Lowest opset with ``GridSample``, needed by models with deformable convolutions only.
MIN_OPSET = 16

#: Default ORT-vs-PyTorch tolerance: max |ORT - PyTorch| <= ATOL + RTOL * max |PyTorch|, per output.
#: Both run float32 through different convolution/matmul kernels, whose summation orders differ;
#: the rounding differences grow with depth and with the magnitude of the output, hence a
#: relative term (displacements are in heatmap pixels, heatmaps in [0, 1]).
ATOL = 1e-4
RTOL = 1e-4

RANDOM_WEIGHTS_WARNING = (
    'exporting with RANDOM WEIGHTS: no --checkpoint was given, so the ONNX file does not contain '
    'a trained model (fine for checking the export; pass --checkpoint FILE for a real model, or '
    '--checkpoint none to say that random weights are intended).')


def require_onnx():
    """Import ``onnx`` and ``onnxruntime`` or fail with how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise ImportError(
            f'ONNX export needs the optional extras onnx and onnxruntime ({e}); install them with '
            '`pip install -r requirements/optional.txt`') from e
    return onnx, onnxruntime


def build_export_model(config: Union[str, Config],
                       checkpoint: Optional[str] = None,
                       device: str = 'cpu') -> nn.Module:
    """Build a config's model in eval mode, with its weights from ``checkpoint``.

    Every ``init_cfg`` is removed first, so nothing is downloaded.

    Args:
        config: Config file, ``mmpose::...`` bundled config or :class:`Config`.
        checkpoint: A checkpoint file; ``'none'`` for random weights on purpose (warns); ``None``
            for random weights by omission (warns loudly, see :data:`RANDOM_WEIGHTS_WARNING`).
            Another model's checkpoint is refused (``allow_partial_load = True`` in the config
            loads the matching tensors only), see :func:`mmpose_attn.utils.build_model`.
    """
    if checkpoint is None:
        warnings.warn(RANDOM_WEIGHTS_WARNING, stacklevel=2)
    elif checkpoint.lower() == 'none':
        warnings.warn('--checkpoint none: the model has random weights.', stacklevel=2)
        checkpoint = None
    # the package's one builder: a checkpoint that does not fit the model is refused
    return build_config_model(config, checkpoint, device)


class ShapeGenericFeatureMapProcessor(FeatureMapProcessor):
    """mmpose's :class:`FeatureMapProcessor` whose concat keeps the target size symbolic.

    mmpose's ``resize`` turns ``inputs[0].shape[-2:]`` into Python ints, which a trace records as
    constants: a file exported with dynamic height and width would resize every branch to the
    traced size. Here the size goes to ``F.interpolate`` as the traced shape itself; the outputs
    are the same (the same ``interpolate`` call with the same size).

    Shapes:
        as :class:`FeatureMapProcessor`.
    """

    def _concat(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        size = inputs[0].shape[-2:]
        return [
            torch.cat([
                F.interpolate(x, size=size, mode='bilinear', align_corners=self.align_corners)
                for x in inputs
            ],
                      dim=1)
        ]


def prepare_for_export(model: nn.Module) -> nn.Module:
    """Make ``model`` traceable into a standard, shape-generic ONNX graph, in place.

    mmcv's ``DeformConv2d`` (stock DEKR) is swapped for :class:`GridSampleDeformConv2d` with the
    same weight, and a :class:`GridSampleDeformConv2d` on mmcv's kernel (``impl='mmcv'``, or
    ``'auto'`` on CUDA) is switched to ``'grid_sample'``: mmcv's op has no standard ONNX form.
    mmpose's adaptive activation blocks (stock DEKR) become
    :class:`ChannelFirstAdaptiveActivationBlock`: the same outputs without two 6-D Transposes.
    mmpose's ``FeatureMapProcessor`` necks become :class:`ShapeGenericFeatureMapProcessor` (it
    has no weights; only its class changes).
    """
    convert_adaptive_activation_blocks(model)
    convert_deform_convs(model, impl='grid_sample')
    for m in model.modules():
        if isinstance(m, GridSampleDeformConv2d):
            m.impl = 'grid_sample'
        if type(m) is FeatureMapProcessor:
            m.__class__ = ShapeGenericFeatureMapProcessor
    return model


def has_deform_convs(model: nn.Module) -> bool:
    """True where ``model`` has deformable convolutions (exported as ``GridSample``)."""
    return any(isinstance(m, DeformConv2d) for m in model.modules())


def check_exportable(model: nn.Module,
                     shape: Tuple[int, int],
                     opset: int,
                     dynamic_hw: bool = False) -> None:
    """Refuse, before tracing, an export that would fail or give a wrong file; each message names
    the tool's option and the fix.

    Checks: the input ``shape`` (bottom-up: multiples of the resize's ``size_factor``, which the
    HRNet branches need; top-down: the codec ``input_size``, the crops the pipeline cuts and the
    decoder expects), ``opset`` (16 where the model has deformable convs: ``GridSample``),
    ``dynamic_hw`` (bottom-up only) and a DEKR rescore net (not carried in the file).
    """
    h, w = (int(v) for v in shape)
    bottomup = is_bottomup(model)
    cfg = getattr(model, 'cfg', None)
    if bottomup:
        factor = int(pipeline_facts(cfg, True).get('size_factor', 32)) if cfg else 32
        if h <= 0 or w <= 0 or h % factor or w % factor:
            up = (max(factor, -(-h // factor) * factor), max(factor, -(-w // factor) * factor))
            raise ValueError(
                f'--shape {h} {w}: a bottom-up model takes heights and widths that are multiples '
                f'of {factor} (the test pipeline\'s size_factor; the HRNet branches halve the '
                f'size four times): use --shape {up[0]} {up[1]}')
        if getattr(model.head, 'rescore_net', None) is not None:
            raise ValueError(
                'the model has a DEKR rescore net (model.head.rescore_cfg): it rescores decoded '
                'poses outside the network, and the exported file does not carry it, so its '
                'scores would differ from PyTorch\'s. Export without it: --cfg-options '
                'model.head.rescore_cfg=None (scores are then the centre heatmap score times '
                'the keypoint scores, as in our SAMKR configs)')
    else:
        if dynamic_hw:
            raise ValueError('--dynamic-hw: a top-down model runs on crops of one size (the '
                             'codec input_size); export it without --dynamic-hw')
        size = cfg.codec['input_size'] if cfg is not None and cfg.get('codec') else None
        if size is not None and (h, w) != (int(size[1]), int(size[0])):
            raise ValueError(
                f'--shape {h} {w}: a top-down model takes crops of the codec input_size '
                f'{tuple(size)} (W, H), which the pipeline cuts and the decoder maps back; use '
                f'--shape {size[1]} {size[0]} (or leave --shape out), or train a model at '
                'another input_size')
    if has_deform_convs(model) and opset < MIN_OPSET:
        raise ValueError(f'--opset {opset}: this model has deformable convolutions, exported as '
                         f'GridSample, which needs --opset {MIN_OPSET} or higher')


def second_hw(shape: Tuple[int, int], factor: int = 32) -> Tuple[int, int]:
    """A size other than ``shape`` in both height and width, with another aspect ratio, to check
    that a dynamic-size graph follows its input."""
    h, w = shape
    return (h - factor if h > factor else h + factor), w + factor


def export_onnx(model: nn.Module,
                out: str,
                shape: Tuple[int, int],
                opset: int = 17,
                dynamic_hw: bool = False,
                checkpoint: Optional[str] = None) -> str:
    """Export ``model``'s tensor forward, traced at input (1, 3, H, W), and check the file.

    A model built from a config (``model.cfg``, as :func:`build_export_model` sets it) is written
    with its deployment metadata (:mod:`.metadata`), so the file runs without the config. The file
    is written only when every check passed (nothing half-written is left at ``out``).

    Args:
        model: A built pose estimator (put into its export form in place, see
            :func:`prepare_for_export`).
        out: The ONNX file to write.
        shape: (H, W) of the traced input (see :func:`check_exportable`).
        opset: ONNX opset; at least :data:`MIN_OPSET` for models with deformable convs.
        dynamic_hw: Declare height and width dynamic (bottom-up models only). The file is then
            run at a second size (:func:`second_hw`) and refused unless it matches PyTorch there
            (within :data:`ATOL` + :data:`RTOL` * max|PyTorch|).
        checkpoint: The checkpoint file the weights came from, hashed into the metadata.

    Returns:
        str: ``out``.
    """
    onnx, _ = require_onnx()
    check_exportable(model, shape, opset, dynamic_hw)
    names = output_names(model)
    wrapper = TensorForward(prepare_for_export(model.eval())).eval()
    axes = {0: 'batch', 2: 'height', 3: 'width'} if dynamic_hw else {0: 'batch'}
    out_axes = {0: 'batch', 2: 'out_height', 3: 'out_width'} if dynamic_hw else {0: 'batch'}
    dynamic_axes = {'input': axes, **{n: out_axes for n in names}}
    dummy = torch.randn(1, 3, *shape)
    tmp = f'{out}.export{os.getpid()}.onnx'
    try:
        with warnings.catch_warnings():
            # the tracer warns about Python ints taken from shapes; with dynamic axes the check
            # at a second size below says whether any of them mattered
            warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
            # the TorchScript exporter: the dynamo one needs onnxscript, which is not a dependency
            torch.onnx.export(
                wrapper, (dummy, ),
                tmp,
                input_names=['input'],
                output_names=names,
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False)
        proto = onnx.load(tmp)
        onnx.checker.check_model(proto)
        if dynamic_hw:
            check_shape_generic(model, tmp, shape)
        cfg = getattr(model, 'cfg', None)
        if cfg is not None:
            meta = deploy_metadata(model, cfg, output_names(model), shape, dynamic_hw, checkpoint)
            write_with_metadata(proto, out, meta)
        else:
            os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def check_shape_generic(model: nn.Module, onnx_file: str, shape: Tuple[int, int]) -> dict:
    """Run a dynamic-size file at a second size (:func:`second_hw`) and refuse it unless every
    output has PyTorch's shape and values there (a graph that kept a traced size as a constant).

    Returns:
        dict: :func:`parity`'s result at the second size, with ``hw``.
    """
    hw = second_hw(shape)
    x = torch.randn(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    res = parity(model, ort_session(onnx_file), x)
    bad = {n: r for n, r in res.items() if not r['ok']}
    if bad:
        detail = '; '.join(f'{n}: shape {r["shape"]} vs PyTorch {r["ref_shape"]}, max |diff| '
                           f'{r["max_abs_diff"]:.2g} (tol {r["tol"]:.2g})' for n, r in bad.items())
        raise ValueError(
            f'dynamic height/width: the exported graph is not shape-generic: at input {hw} '
            f'(traced at {tuple(shape)}) ONNX Runtime differs from PyTorch ({detail}); some '
            'size was recorded as a constant. Export with --no-dynamic-hw, at the --shape you '
            'will run')
    return dict(res, hw=hw)


def parity(model: nn.Module,
           session,
           x: Tensor,
           atol: float = ATOL,
           rtol: float = RTOL) -> Dict[str, dict]:
    """Compare ONNX Runtime with PyTorch on input ``x``, output by output.

    Returns:
        dict: per output name, ``max_abs_diff`` (infinite where the shapes differ),
        ``max_abs_ref``, ``tol`` (``atol + rtol * max_abs_ref``), ``ok``, ``shape`` (of the ORT
        output) and ``ref_shape`` (of PyTorch's).
    """
    with torch.no_grad():
        refs = TensorForward(model)(x)
    names = [o.name for o in session.get_outputs()]
    gots = session.run(names, {'input': x.numpy()})
    res = {}
    for name, ref, got in zip(names, refs, gots):
        ref = ref.numpy()
        scale = float(np.abs(ref).max())
        tol = atol + rtol * scale
        # outputs of another shape (a graph that kept a traced size) differ everywhere
        diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float('inf')
        res[name] = dict(
            max_abs_diff=diff,
            max_abs_ref=scale,
            tol=tol,
            ok=diff <= tol,
            shape=tuple(got.shape),
            ref_shape=tuple(ref.shape))
    return res


def compare_latency(model: nn.Module,
                    session,
                    x: Tensor,
                    repeats: int = 5,
                    warmup: int = 1) -> Dict[str, List[float]]:
    """Time PyTorch's tensor forward and the ORT session on ``x``, interleaved round by round
    (:func:`mmpose_attn.utils.time_interleaved`); the caller sets the thread counts.

    Returns:
        dict: ``torch`` and ``ort``, the per-round wall times in seconds.
    """
    feed = {'input': x.numpy()}
    fwd = TensorForward(model)

    def run_torch():
        with torch.no_grad():
            fwd(x)

    torch_times, ort_times = time_interleaved([run_torch, lambda: session.run(None, feed)], repeats,
                                              warmup)
    return dict(torch=torch_times, ort=ort_times)
