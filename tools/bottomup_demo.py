"""Bottom-up pose estimation (SAMKR, DEKR, ...) on an image, a video or a folder of images.

Same interface as mmpose's ``demo/bottomup_demo.py`` plus ``--batch-size`` (images per forward
pass over a folder; heads that only predict batch size 1 fall back to it), folders, ``mmpose::``
configs, ``--cfg-options`` and the checkpoint ``none`` (random weights, smoke tests only).

Example::

    python tools/bottomup_demo.py \\
        configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py samkr_w32.pth \\
        --input images/ --output-root vis_results --save-predictions --device cpu --batch-size 4
"""
from argparse import ArgumentParser
from typing import List, Optional

from mmengine.config import DictAction

from mmpose_attn.apis import (BottomupPredictor, build_pose_model, build_visualizer,
                              input_kind, run_inference)


def parse_args(argv: Optional[List[str]] = None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pose config file or mmpose::path')
    parser.add_argument('checkpoint', help='pose checkpoint, or "none" (random)')
    parser.add_argument('--input', type=str, default='', help='image, video or image folder')
    parser.add_argument('--show', action='store_true', help='show the drawings')
    parser.add_argument('--output-root', type=str, default='',
                        help='folder for the drawings (and the jsons)')
    parser.add_argument('--save-predictions', action='store_true',
                        help='write results_<name>.json per input image/video')
    parser.add_argument('--device', default='cuda:0', help='e.g. cpu or cuda:0')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images (or frames) per forward pass')
    parser.add_argument('--draw-heatmap', action='store_true', help='draw predicted heatmaps')
    parser.add_argument('--show-kpt-idx', action='store_true', help='draw keypoint indices')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='draw keypoints scoring above this')
    parser.add_argument('--radius', type=int, default=3, help='keypoint radius')
    parser.add_argument('--thickness', type=int, default=1, help='link thickness')
    parser.add_argument('--show-interval', type=float, default=0, help='seconds per frame')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.test_cfg.flip_test=False')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    input_kind(args.input)  # fail on a bad --input before building the model
    pose_model = build_pose_model(args.config, args.checkpoint, device=args.device,
                                  cfg_options=args.cfg_options, expect='bottomup',
                                  output_heatmaps=args.draw_heatmap)
    visualizer = build_visualizer(pose_model, args.radius, args.thickness)
    predictor = BottomupPredictor(pose_model, args.batch_size)
    return run_inference(
        args.input, predictor, visualizer, pose_model.dataset_meta,
        output_root=args.output_root, save_predictions_json=args.save_predictions,
        show=args.show, show_interval=args.show_interval, kpt_thr=args.kpt_thr,
        draw_bbox=False, draw_heatmap=args.draw_heatmap, show_kpt_idx=args.show_kpt_idx)


if __name__ == '__main__':
    main()
