"""The command-line options both demos share (mmpose's demo options plus ours), and the keyword
arguments of :class:`AttnPoseInferencer` and its :meth:`~AttnPoseInferencer.run` they map to."""
from argparse import ArgumentParser, ArgumentTypeError, Namespace

from mmengine.config import DictAction

from ..deployment.base import check_threads


def add_demo_arguments(parser: ArgumentParser) -> ArgumentParser:
    """Add the input/output, device, drawing, ``--strict`` and ``--cfg-options`` options."""
    parser.add_argument('--input', type=str, default='', help='image, video or image folder')
    parser.add_argument('--show', action='store_true', help='show the drawings')
    parser.add_argument(
        '--output-root', type=str, default='', help='folder for the drawings (and the jsons)')
    parser.add_argument(
        '--save-predictions',
        action='store_true',
        help='write results_<name>.json per input image/video')
    parser.add_argument(
        '--device',
        default=None,
        help='e.g. cpu or cuda:0 (default: cuda:0 if available, else cpu)')
    parser.add_argument(
        '--kpt-thr', type=float, default=0.3, help='draw keypoints scoring above this')
    parser.add_argument('--draw-heatmap', action='store_true', help='draw predicted heatmaps')
    parser.add_argument('--show-kpt-idx', action='store_true', help='draw keypoint indices')
    parser.add_argument('--skeleton-style', default='mmpose', choices=['mmpose', 'openpose'])
    parser.add_argument('--radius', type=int, default=3, help='keypoint radius')
    parser.add_argument('--thickness', type=int, default=1, help='link thickness')
    parser.add_argument('--show-interval', type=float, default=0, help='seconds per frame')
    parser.add_argument(
        '--strict',
        action='store_true',
        help='stop at the first unreadable image (default: skip and report it)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override pose config settings, e.g. '
        'model.test_cfg.flip_test=False')
    return parser


def demo_run_kwargs(args: Namespace) -> dict:
    """:meth:`AttnPoseInferencer.run` keyword arguments of the shared options (not ``--input``)."""
    names = ('output_root', 'save_predictions', 'show', 'show_interval', 'strict', 'kpt_thr',
             'radius', 'thickness', 'draw_heatmap', 'show_kpt_idx', 'skeleton_style')
    return {name: getattr(args, name) for name in names}


def add_backend_arguments(parser: ArgumentParser) -> ArgumentParser:
    """Add ``--backend``, ``--onnx``, ``--precision``, ``--threads`` and ``--ov-cache-dir``."""
    parser.add_argument(
        '--backend',
        choices=('pytorch', 'onnxruntime', 'openvino'),
        default='pytorch',
        help='what runs the network (ONNX Runtime and OpenVINO: on the CPU, from '
        '--onnx); preprocessing, flip test and decoding are mmpose\'s for all')
    parser.add_argument(
        '--onnx',
        help='ONNX file of the model, written by '
        'tools/deployment/export_onnx.py (--backend onnxruntime/openvino; the '
        'pose checkpoint may then be "none")')
    parser.add_argument(
        '--precision',
        choices=('auto', 'fp32', 'bf16'),
        default='auto',
        help='auto: the backend\'s fastest accurate mode on this CPU (PyTorch: '
        'bf16 autocast + channels_last where the CPU has avx512_bf16/AMX, else '
        'fp32; OpenVINO: its default; ONNX Runtime: fp32); fp32: full precision')
    parser.add_argument(
        '--threads',
        '--ort-threads',
        dest='threads',
        type=threads_arg,
        default=None,
        help='ONNX Runtime / OpenVINO threads, 1 or more '
        '(default: the runtime\'s own)')
    parser.add_argument(
        '--ov-cache-dir',
        default=None,
        help='OpenVINO compiled-model cache (default: '
        '~/.cache/mmpose_attn/openvino; "" for none)')
    return parser


def threads_arg(text: str) -> int:
    """``--threads``: a whole number >= 1 (argparse reports the message naming the range)."""
    try:
        return check_threads(text, '--threads')
    except ValueError as e:
        raise ArgumentTypeError(str(e)) from e


def backend_kwargs(args: Namespace) -> dict:
    """:class:`AttnPoseInferencer` keyword arguments of the backend options."""
    kwargs = {name: getattr(args, name) for name in ('backend', 'onnx', 'precision', 'threads')}
    return dict(kwargs, cache_dir=args.ov_cache_dir)
