"""The command-line options both demos share (mmpose's demo options plus ours), and the keyword
arguments of :meth:`AttnPoseInferencer.run` they map to."""
from argparse import ArgumentParser, Namespace

from mmengine.config import DictAction


def add_demo_arguments(parser: ArgumentParser) -> ArgumentParser:
    """Add the input/output, device, drawing, ``--strict`` and ``--cfg-options`` options."""
    parser.add_argument('--input', type=str, default='', help='image, video or image folder')
    parser.add_argument('--show', action='store_true', help='show the drawings')
    parser.add_argument('--output-root', type=str, default='',
                        help='folder for the drawings (and the jsons)')
    parser.add_argument('--save-predictions', action='store_true',
                        help='write results_<name>.json per input image/video')
    parser.add_argument('--device', default=None,
                        help='e.g. cpu or cuda:0 (default: cuda:0 if available, else cpu)')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='draw keypoints scoring above this')
    parser.add_argument('--draw-heatmap', action='store_true', help='draw predicted heatmaps')
    parser.add_argument('--show-kpt-idx', action='store_true', help='draw keypoint indices')
    parser.add_argument('--skeleton-style', default='mmpose', choices=['mmpose', 'openpose'])
    parser.add_argument('--radius', type=int, default=3, help='keypoint radius')
    parser.add_argument('--thickness', type=int, default=1, help='link thickness')
    parser.add_argument('--show-interval', type=float, default=0, help='seconds per frame')
    parser.add_argument('--strict', action='store_true',
                        help='stop at the first unreadable image (default: skip and report it)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override pose config settings, e.g. '
                        'model.test_cfg.flip_test=False')
    return parser


def demo_run_kwargs(args: Namespace) -> dict:
    """:meth:`AttnPoseInferencer.run` keyword arguments of the shared options (not ``--input``)."""
    return dict(output_root=args.output_root, save_predictions=args.save_predictions,
                show=args.show, show_interval=args.show_interval, strict=args.strict,
                kpt_thr=args.kpt_thr, radius=args.radius, thickness=args.thickness,
                draw_heatmap=args.draw_heatmap, show_kpt_idx=args.show_kpt_idx,
                skeleton_style=args.skeleton_style)
