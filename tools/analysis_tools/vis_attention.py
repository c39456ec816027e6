"""Draw ESAM's and SAMKR's attention maps over an image, as PNGs.

Usage::

    python tools/analysis_tools/vis_attention.py CONFIG CHECKPOINT IMAGE --out DIR
        [--bbox X Y W H | --bbox-file DETS.json [--ann-file ANN.json]] [--topk 8]

CHECKPOINT may be ``none`` (random weights, smoke tests only). Top-down models draw over the
part of the image the network saw for the box (default: the whole image); bottom-up models over
the whole image. The files written:
:func:`mmpose_attn.visualization.attention_maps.attention_drawings` and
docs/figures_and_tables.md.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

from mmengine.config import DictAction


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (see the module's usage)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='ESAM or SAMKR pose config (file or mmpose:: path)')
    parser.add_argument('checkpoint', help='checkpoint .pth/URL, or "none" for random weights')
    parser.add_argument('image', help='the image to draw over')
    parser.add_argument('--out', required=True, help='folder for the PNGs')
    box = parser.add_mutually_exclusive_group()
    box.add_argument(
        '--bbox',
        nargs=4,
        type=float,
        metavar=('X', 'Y', 'W', 'H'),
        help='top-down: the person box in pixels (default: the whole image)')
    box.add_argument(
        '--bbox-file',
        help='top-down: COCO detection-result json; the image\'s '
        'highest-scoring person box is used')
    parser.add_argument(
        '--ann-file',
        help='COCO annotation json mapping the image to its '
        'image_id in --bbox-file (default: the id is the file name)')
    parser.add_argument(
        '--topk',
        type=int,
        default=8,
        help='ESAM: feature maps drawn per stage, the channels with the largest '
        'channel attention (default 8)')
    parser.add_argument(
        '--alpha',
        type=float,
        default=0.5,
        help='weight of the colour map over the image (default 0.5, as mmpose '
        'draws heatmaps)')
    parser.add_argument(
        '--device',
        default=None,
        help='e.g. cpu or cuda:0 (default: cuda:0 if available, else cpu)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='random seed, so that random weights (checkpoint none) draw the '
        'same maps every run (default 0)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. model.test_cfg.flip_test=False')
    return parser.parse_args(argv)


def _bbox_from_file(args: argparse.Namespace) -> List[float]:
    from mmpose_attn.apis import CocoDetections
    boxes = CocoDetections(args.bbox_file, args.ann_file).boxes(args.image)
    if len(boxes) == 0:
        raise ValueError(f'--bbox-file {args.bbox_file} has no person box for {args.image}; '
                         'pass --bbox X Y W H instead.')
    x0, y0, x1, y1, score = boxes[boxes[:, 4].argmax()]
    print(f'box from {args.bbox_file}: x={x0:.1f} y={y0:.1f} w={x1 - x0:.1f} h={y1 - y0:.1f} '
          f'(score {score:.3f}, the highest of {len(boxes)})')
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Draw the maps; returns the PNG paths written."""
    args = parse_args(argv)
    from mmengine.runner import set_random_seed

    from mmpose_attn.apis import build_pose_model, read_image, resolve_device
    from mmpose_attn.visualization import attention_maps as am
    try:
        if not osp.isfile(args.image):
            raise FileNotFoundError(f'IMAGE {args.image!r} does not exist.')
        image = read_image(args.image)
        if args.ann_file is not None and args.bbox_file is None:
            raise ValueError('--ann-file maps the image to its id in --bbox-file; pass both.')
        bbox, role = args.bbox, '--bbox'
        if args.bbox_file is not None:
            bbox, role = _bbox_from_file(args), '--bbox-file box'
        device = resolve_device(args.device)
        set_random_seed(args.seed)
        model = build_pose_model(
            args.config, args.checkpoint, device=device, cfg_options=args.cfg_options)
        drawings = am.visualize_attention(
            model, image, bbox, topk=args.topk, alpha=args.alpha, bbox_role=role)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'vis_attention: {e}')
    paths = am.write_drawings(drawings, args.out)
    print(f'wrote {len(paths)} PNGs to {args.out}: ' + ', '.join(sorted(drawings)))
    return paths


if __name__ == '__main__':
    main()
