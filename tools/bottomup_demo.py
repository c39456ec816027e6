"""Bottom-up pose estimation (SAMKR, DEKR, ...) on an image, a video or a folder of images.

Same interface as mmpose's ``demo/bottomup_demo.py`` plus ``--batch-size`` (images per forward
pass, for heads with ``supports_batch_predict``; others run one image at a time), folders,
``mmpose::`` configs, ``--cfg-options``, the checkpoint ``none`` (random weights, smoke tests
only), ``--strict``, ``--backend {pytorch,onnxruntime,openvino} --onnx FILE`` (the network in ONNX
Runtime or OpenVINO, from a file written by tools/deployment/export_onnx.py at the input size the
images are resized to; mmpose's decoding unchanged; the checkpoint may then be ``none``) and
``--precision {auto,fp32,bf16}``. A thin CLI over :class:`mmpose_attn.apis.AttnPoseInferencer`.

Example::

    python tools/bottomup_demo.py \\
        configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py samkr_w32.pth \\
        --input images/ --output-root vis_results --save-predictions --device cpu --batch-size 4
    python tools/bottomup_demo.py \
        configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py none \
        --backend openvino --onnx samkr_w32.onnx --input square_images/ --output-root vis_results
"""
from argparse import ArgumentParser
from typing import List, Optional

from mmpose_attn.apis import AttnPoseInferencer, input_kind
from mmpose_attn.apis.demo_args import (add_backend_arguments, add_demo_arguments, backend_kwargs,
                                        demo_run_kwargs)
from mmpose_attn.apis.inferencer import backend_device


def parse_args(argv: Optional[List[str]] = None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pose config file or mmpose::path')
    parser.add_argument('checkpoint', help='pose checkpoint, or "none" (random)')
    add_demo_arguments(parser)
    parser.add_argument(
        '--batch-size', type=int, default=1, help='images (or frames) per forward pass')
    add_backend_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    # fail on a bad --input or --device before building the model
    input_kind(args.input)
    device = backend_device(args.backend, args.device, args.onnx, args.precision)
    inferencer = AttnPoseInferencer(
        args.config,
        args.checkpoint,
        device=device,
        cfg_options=args.cfg_options,
        output_heatmaps=args.draw_heatmap,
        expect='bottomup',
        **backend_kwargs(args))
    return inferencer.run(
        args.input, batch_size=args.batch_size, draw_bbox=False, **demo_run_kwargs(args))


if __name__ == '__main__':
    main()
