"""Bottom-up pose estimation (SAMKR, DEKR, ...) on an image, a video or a folder of images.

Same interface as mmpose's ``demo/bottomup_demo.py`` plus ``--batch-size`` (images per forward
pass, for heads with ``supports_batch_predict``; others run one image at a time), folders,
``mmpose::`` configs, ``--cfg-options``, the checkpoint ``none`` (random weights, smoke tests
only), ``--strict`` and ``--backend onnxruntime --onnx FILE`` (the network in ONNX Runtime, from a
file written by tools/deployment/export_onnx.py at the input size the images are resized to;
mmpose's decoding unchanged; the checkpoint may then be ``none``). A thin CLI over :class:`mmpose_attn.apis.AttnPoseInferencer`.

Example::

    python tools/bottomup_demo.py \\
        configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py samkr_w32.pth \\
        --input images/ --output-root vis_results --save-predictions --device cpu --batch-size 4
    python tools/bottomup_demo.py \
        configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py none \
        --backend onnxruntime --onnx samkr_w32.onnx --input square_images/ --output-root vis_results
"""
import os.path as osp
from argparse import ArgumentParser
from typing import List, Optional

from mmengine.config import DictAction

from mmpose_attn.apis import AttnPoseInferencer, input_kind, resolve_device
from mmpose_attn.deployment.onnx import require_onnx, use_onnxruntime


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
    parser.add_argument('--device', default=None,
                        help='e.g. cpu or cuda:0 (default: cuda:0 if available, else cpu)')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images (or frames) per forward pass')
    parser.add_argument('--draw-heatmap', action='store_true', help='draw predicted heatmaps')
    parser.add_argument('--show-kpt-idx', action='store_true', help='draw keypoint indices')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='draw keypoints scoring above this')
    parser.add_argument('--radius', type=int, default=3, help='keypoint radius')
    parser.add_argument('--thickness', type=int, default=1, help='link thickness')
    parser.add_argument('--show-interval', type=float, default=0, help='seconds per frame')
    parser.add_argument('--strict', action='store_true',
                        help='stop at the first unreadable image (default: skip and report it)')
    parser.add_argument('--backend', choices=('pytorch', 'onnxruntime'), default='pytorch',
                        help='run the network in PyTorch or in ONNX Runtime (CPU, needs --onnx)')
    parser.add_argument('--onnx', help='ONNX file of the model (--backend onnxruntime)')
    parser.add_argument('--ort-threads', type=int, default=2, help='ONNX Runtime threads')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.test_cfg.flip_test=False')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    # fail on a bad --input or --device before building the model
    input_kind(args.input)
    device = resolve_device(args.device)
    if args.backend == 'onnxruntime':
        if not args.onnx or not osp.isfile(args.onnx):
            raise SystemExit(f'--backend onnxruntime needs --onnx FILE (an existing file written '
                             f'by tools/deployment/export_onnx.py), got --onnx {args.onnx!r}')
        require_onnx()
        device = 'cpu'  # the session runs on the CPU; decoding follows its outputs
    inferencer = AttnPoseInferencer(args.config, args.checkpoint, device=device,
                                    cfg_options=args.cfg_options,
                                    output_heatmaps=args.draw_heatmap, expect='bottomup')
    if args.backend == 'onnxruntime':
        use_onnxruntime(inferencer.model, args.onnx, threads=args.ort_threads)
    return inferencer.run(
        args.input, output_root=args.output_root, save_predictions=args.save_predictions,
        show=args.show, show_interval=args.show_interval, batch_size=args.batch_size,
        strict=args.strict, kpt_thr=args.kpt_thr, radius=args.radius,
        thickness=args.thickness, draw_bbox=False, draw_heatmap=args.draw_heatmap,
        show_kpt_idx=args.show_kpt_idx)


if __name__ == '__main__':
    main()
