"""Top-down pose estimation with an mmdet person detector (or a COCO detection json).

Same interface as mmpose's ``demo/topdown_demo_with_mmdet.py``; in addition ``--input`` may be a
folder of images, a config may be an ``mmdet::``/``mmpose::`` path, a checkpoint may be ``none``
(random weights, smoke tests only), ``--bbox-file`` replaces the detector and ``--strict`` stops
at the first unreadable image, ``--batch-size N`` batches person crops across images, and
``--backend {pytorch,onnxruntime,openvino} --onnx FILE --precision {auto,fp32,bf16}`` picks what
runs the pose network (the detector stays mmdet's PyTorch). A thin CLI over
:class:`mmpose_attn.apis.AttnPoseInferencer`.

Example::

    python tools/topdown_demo_with_mmdet.py \\
        mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py rtmdet_tiny.pth \\
        configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py esam_r50.pth \\
        --input demo.jpg --output-root vis_results --save-predictions --device cpu
"""
from argparse import ArgumentParser
from typing import List, Optional

from mmpose_attn.apis import AttnPoseInferencer, CocoDetections, input_kind
from mmpose_attn.apis.demo_args import (add_backend_arguments, add_demo_arguments, backend_kwargs,
                                        demo_run_kwargs)
from mmpose_attn.apis.inferencer import backend_device


def parse_args(argv: Optional[List[str]] = None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'det_config', help='mmdet config file or mmdet::path (ignored with '
        '--bbox-file)')
    parser.add_argument('det_checkpoint', help='detector checkpoint, or "none" (random)')
    parser.add_argument('pose_config', help='pose config file or mmpose::path')
    parser.add_argument('pose_checkpoint', help='pose checkpoint, or "none" (random)')
    add_demo_arguments(parser)
    parser.add_argument(
        '--det-cat-id', type=int, default=0, help='person class index of the detector')
    parser.add_argument('--bbox-thr', type=float, default=0.3, help='keep boxes scoring above this')
    parser.add_argument(
        '--nms-thr', type=float, default=0.3, help='IoU threshold of box NMS (detector boxes only)')
    parser.add_argument(
        '--bbox-file',
        default=None,
        help='COCO detection-result json with the person boxes; no detector '
        'is built (pass anything, e.g. "-", as DET_CONFIG/DET_CHECKPOINT)')
    parser.add_argument(
        '--ann-file',
        default=None,
        help='COCO annotation json whose images[].file_name (relative path) '
        'maps the input images to the image ids of --bbox-file (without it, '
        "only COCO's own names, the id in 12 digits as in 000000000785.jpg, are "
        'read as ids, and the run says so; other names are an error)')
    parser.add_argument('--alpha', type=float, default=0.8, help='bbox transparency')
    parser.add_argument('--draw-bbox', action='store_true', help='draw the person boxes')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='person crops per forward pass, filled from consecutive images '
        '(an image\'s boxes stay in one batch); results equal those of 1')
    add_backend_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    # fail on a bad --input, --device or --bbox-file before building models
    kind = input_kind(args.input)
    device = backend_device(args.backend, args.device, args.onnx, args.precision)
    detections = None
    if args.bbox_file is not None:
        if kind == 'video':
            raise ValueError('--bbox-file holds boxes per COCO image_id; use it with an image '
                             'or a folder of images, not a video.')
        detections = CocoDetections(args.bbox_file, args.ann_file)
    inferencer = AttnPoseInferencer(
        args.pose_config,
        args.pose_checkpoint,
        device=device,
        det_model=None if detections else args.det_config,
        det_weights=None if detections else args.det_checkpoint,
        det_cat_ids=args.det_cat_id,
        detections=detections,
        cfg_options=args.cfg_options,
        output_heatmaps=args.draw_heatmap,
        expect='topdown',
        **backend_kwargs(args))
    return inferencer.run(
        args.input,
        bbox_thr=args.bbox_thr,
        nms_thr=args.nms_thr,
        batch_size=args.batch_size,
        alpha=args.alpha,
        draw_bbox=args.draw_bbox,
        **demo_run_kwargs(args))


if __name__ == '__main__':
    main()
