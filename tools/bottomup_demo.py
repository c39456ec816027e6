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

from mmpose_attn.apis import AttnPoseInferencer, input_kind, resolve_device
from mmpose_attn.apis.demo_args import add_demo_arguments, demo_run_kwargs
from mmpose_attn.deployment.onnx import require_onnx, use_onnxruntime


def parse_args(argv: Optional[List[str]] = None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pose config file or mmpose::path')
    parser.add_argument('checkpoint', help='pose checkpoint, or "none" (random)')
    add_demo_arguments(parser)
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images (or frames) per forward pass')
    parser.add_argument('--backend', choices=('pytorch', 'onnxruntime'), default='pytorch',
                        help='run the network in PyTorch or in ONNX Runtime (CPU, needs --onnx)')
    parser.add_argument('--onnx', help='ONNX file of the model (--backend onnxruntime)')
    parser.add_argument('--ort-threads', type=int, default=2, help='ONNX Runtime threads')
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
                                    output_heatmaps=args.draw_heatmap, expect='bottomup',
                                    weights_from=(f'the ONNX file {args.onnx}'
                                                  if args.backend == 'onnxruntime' else None))
    if args.backend == 'onnxruntime':
        use_onnxruntime(inferencer.model, args.onnx, threads=args.ort_threads)
    return inferencer.run(args.input, batch_size=args.batch_size, draw_bbox=False,
                          **demo_run_kwargs(args))


if __name__ == '__main__':
    main()
