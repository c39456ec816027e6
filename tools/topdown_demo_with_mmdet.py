"""Top-down pose estimation with an mmdet person detector (or a COCO detection json).

Same interface as mmpose's ``demo/topdown_demo_with_mmdet.py``; in addition ``--input`` may be a
folder of images, a config may be an ``mmdet::``/``mmpose::`` path, a checkpoint may be ``none``
(random weights, smoke tests only) and ``--bbox-file`` replaces the detector.

Example::

    python tools/topdown_demo_with_mmdet.py \\
        mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py rtmdet_tiny.pth \\
        configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py esam_r50.pth \\
        --input demo.jpg --output-root vis_results --save-predictions --device cpu
"""
from argparse import ArgumentParser
from typing import List, Optional

from mmengine.config import DictAction

from mmpose_attn.apis import (CocoDetections, TopdownPredictor, build_detector,
                              build_pose_model, build_visualizer, input_kind, run_inference)


def parse_args(argv: Optional[List[str]] = None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('det_config', help='mmdet config file or mmdet::path (ignored with '
                        '--bbox-file)')
    parser.add_argument('det_checkpoint', help='detector checkpoint, or "none" (random)')
    parser.add_argument('pose_config', help='pose config file or mmpose::path')
    parser.add_argument('pose_checkpoint', help='pose checkpoint, or "none" (random)')
    parser.add_argument('--input', type=str, default='', help='image, video or image folder')
    parser.add_argument('--show', action='store_true', help='show the drawings')
    parser.add_argument('--output-root', type=str, default='',
                        help='folder for the drawings (and the jsons)')
    parser.add_argument('--save-predictions', action='store_true',
                        help='write results_<name>.json per input image/video')
    parser.add_argument('--device', default='cuda:0', help='e.g. cpu or cuda:0')
    parser.add_argument('--det-cat-id', type=int, default=0,
                        help='person class index of the detector')
    parser.add_argument('--bbox-thr', type=float, default=0.3,
                        help='keep boxes scoring above this')
    parser.add_argument('--nms-thr', type=float, default=0.3,
                        help='IoU threshold of box NMS (detector boxes only)')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='draw keypoints scoring above this')
    parser.add_argument('--bbox-file', default=None,
                        help='COCO detection-result json with the person boxes; no detector '
                        'is built (pass anything, e.g. "-", as DET_CONFIG/DET_CHECKPOINT)')
    parser.add_argument('--ann-file', default=None,
                        help='COCO annotation json mapping file names to the image ids of '
                        '--bbox-file (default: the id is the file name, 000000000785.jpg)')
    parser.add_argument('--draw-heatmap', action='store_true', help='draw predicted heatmaps')
    parser.add_argument('--show-kpt-idx', action='store_true', help='draw keypoint indices')
    parser.add_argument('--skeleton-style', default='mmpose', choices=['mmpose', 'openpose'])
    parser.add_argument('--radius', type=int, default=3, help='keypoint radius')
    parser.add_argument('--thickness', type=int, default=1, help='link thickness')
    parser.add_argument('--show-interval', type=float, default=0, help='seconds per frame')
    parser.add_argument('--alpha', type=float, default=0.8, help='bbox transparency')
    parser.add_argument('--draw-bbox', action='store_true', help='draw the person boxes')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override pose config settings, e.g. '
                        'model.test_cfg.flip_test=False')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    kind = input_kind(args.input)  # fail on a bad --input before building models
    if args.bbox_file is not None:
        if kind == 'video':
            raise ValueError('--bbox-file holds boxes per COCO image_id; use it with an image '
                             'or a folder of images, not a video.')
        detector, detections = None, CocoDetections(args.bbox_file, args.ann_file)
    else:
        detector = build_detector(args.det_config, args.det_checkpoint, device=args.device)
        detections = None
    pose_model = build_pose_model(args.pose_config, args.pose_checkpoint, device=args.device,
                                  cfg_options=args.cfg_options, expect='topdown',
                                  output_heatmaps=args.draw_heatmap)
    visualizer = build_visualizer(pose_model, args.radius, args.thickness, args.alpha,
                                  args.skeleton_style)
    predictor = TopdownPredictor(pose_model, detector, detections, args.det_cat_id,
                                 args.bbox_thr, args.nms_thr)
    return run_inference(
        args.input, predictor, visualizer, pose_model.dataset_meta,
        output_root=args.output_root, save_predictions_json=args.save_predictions,
        show=args.show, show_interval=args.show_interval, kpt_thr=args.kpt_thr,
        draw_bbox=args.draw_bbox, draw_heatmap=args.draw_heatmap,
        show_kpt_idx=args.show_kpt_idx, skeleton_style=args.skeleton_style)


if __name__ == '__main__':
    main()
