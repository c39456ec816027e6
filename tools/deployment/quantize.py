"""Quantise an exported pose model to INT8 (NNCF post-training quantisation) or fp16 weights.

Usage::

    python tools/deployment/quantize.py esam_r50.onnx --images data/coco/val2017 \
        --bbox-file person_detection_results.json --out esam_r50_int8.xml
    python tools/deployment/quantize.py samkr_w32.onnx --images photos/ --out samkr_w32_int8.xml
    python tools/deployment/quantize.py esam_r50.onnx --precision fp16 --out esam_r50_fp16.xml

The input is a file written by tools/deployment/export_onnx.py: its deployment metadata says how to
turn an image into the network input (top-down: crops of the ``--bbox-file`` boxes, or of whole
images without one; bottom-up: the test pipeline's resize), so no config is needed. INT8 is
calibrated on up to ``--samples`` such inputs from ``--images`` with NNCF's default post-training
quantisation. ``--out FILE.xml`` writes an OpenVINO IR with its ``.bin`` beside it, carrying the
same metadata (rt_info key ``mmpose_attn.deploy``) plus ``quantization`` (precision, calibration)
and an integrity record of the ``.bin``; give it to ``--backend openvino --onnx`` or to the
runtime. ``--out FILE.onnx`` (int8 only) writes a QDQ ONNX model for ONNX Runtime, with the
metadata and a graph integrity record as export_onnx.py writes them: on the machine measured it ran
2.3x faster than the fp32 file under ONNX Runtime, OpenVINO INT8 faster still (docs/deployment.md,
"INT8"). Needs ``pip install nncf openvino``.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Optional, Sequence

from mmpose_attn.deployment import metadata as md
from mmpose_attn.deployment.preprocess import calibration_inputs, image_files, read_boxes

PRECISIONS = ('int8', 'fp16')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', help='ONNX file written by tools/deployment/export_onnx.py')
    parser.add_argument(
        '--out',
        required=True,
        help='FILE.xml: OpenVINO IR (.bin beside it); FILE.onnx: QDQ ONNX model '
        'for ONNX Runtime (int8 only)')
    parser.add_argument(
        '--precision',
        choices=PRECISIONS,
        default='int8',
        help='int8: NNCF post-training quantisation, calibrated on --images; '
        'fp16: weights stored in fp16 (no calibration)')
    parser.add_argument('--images', help='folder of calibration images (needed for int8)')
    parser.add_argument(
        '--bbox-file',
        help='top-down: COCO detection results (image_id or '
        'file_name, bbox, score) giving the person boxes to crop; default: one '
        'box per whole image')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='boxes of --bbox-file below this score are skipped')
    parser.add_argument(
        '--samples',
        type=int,
        default=300,
        help='at most this many calibration inputs (crops or images)')
    return parser.parse_args(argv)


def require_nncf():
    """Import ``nncf`` and ``openvino`` or fail with how to install them."""
    try:
        import nncf
        import openvino
    except ImportError as e:
        raise ImportError(f'quantize.py needs nncf and openvino ({e}): pip install nncf '
                          'openvino (pinned in requirements/optional.txt)') from e
    return nncf, openvino


def onnx_for_nncf(path: str):
    """The ONNX model of ``path`` with no-op ``Cast`` nodes (float to float, e.g. from a head's
    ``.float()``) made ``Identity``: NNCF's ONNX backend fails on one that writes a graph output."""
    import onnx
    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    graph = model.graph
    types = {
        v.name: v.type.tensor_type.elem_type
        for v in list(graph.value_info) + list(graph.input) + list(graph.output)
    }
    for node in graph.node:
        if node.op_type == 'Cast' and types.get(node.input[0]) == node.attribute[0].i:
            node.op_type = 'Identity'
            del node.attribute[:]
    return model


def save_ir(ov, model, out: str, meta: dict, compress_to_fp16: bool) -> None:
    """Write ``model`` as IR ``out`` (+ ``.bin``) with ``meta`` in its rt_info, atomically.

    The metadata's ``integrity`` records the ``.bin``'s size and sha256 (the ``.xml`` holds the
    metadata, so it cannot hash itself).
    """
    folder = osp.dirname(osp.abspath(out))
    name = osp.splitext(osp.basename(out))[0]
    tmp = tempfile.mkdtemp(dir=folder, prefix=f'.{name}.')
    try:
        xml, bin_ = osp.join(tmp, f'{name}.xml'), osp.join(tmp, f'{name}.bin')
        ov.save_model(model, xml, compress_to_fp16=compress_to_fp16)
        meta = dict(
            meta,
            integrity=dict(
                weights_file=f'{name}.bin',
                weights_bytes=osp.getsize(bin_),
                weights_sha256=md.sha256_file(bin_)))
        text = json.dumps(meta)
        model.set_rt_info(text, md.KEY)
        # OpenVINO keeps an ONNX file's metadata_props under ['framework', key]: the same there
        model.set_rt_info(text, ['framework', md.KEY])
        ov.save_model(model, xml, compress_to_fp16=compress_to_fp16)
        if md.sha256_file(bin_) != meta['integrity']['weights_sha256']:
            raise RuntimeError(f'{out}: OpenVINO wrote different weights on a second save; '
                               'the integrity record would be wrong')
        os.replace(bin_, osp.splitext(out)[0] + '.bin')
        os.replace(xml, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    to_onnx = args.out.endswith('.onnx')
    if not (to_onnx or args.out.endswith('.xml')):
        raise ValueError(f'--out {args.out}: write an OpenVINO IR, FILE.xml (its .bin goes '
                         'beside it), or a QDQ ONNX model, FILE.onnx')
    if to_onnx and args.precision != 'int8':
        raise ValueError(f'--out {args.out} --precision {args.precision}: the ONNX output is '
                         'int8 (QDQ); fp16 weights are written as OpenVINO IR, --out FILE.xml')
    if args.precision == 'int8' and not args.images:
        raise ValueError('--precision int8 needs --images DIR: calibration images')
    meta = md.read_metadata(args.model)
    md.check_integrity(args.model, meta)
    nncf, ov = require_nncf()
    model = onnx_for_nncf(args.model) if to_onnx else ov.Core().read_model(args.model)
    quant = dict(
        precision=args.precision,
        source_onnx=osp.basename(args.model),
        source_graph_sha256=meta['integrity']['graph_sha256'],
        tool=f'openvino {ov.__version__}')
    if args.precision == 'int8':
        boxes = read_boxes(args.bbox_file, args.score_thr) if args.bbox_file else None
        if boxes is not None and meta['kind'] == 'bottomup':
            raise ValueError('--bbox-file: a bottom-up model finds the people itself; leave it '
                             'out')
        samples = list(calibration_inputs(meta, image_files(args.images), boxes, args.samples))
        if not samples:
            raise ValueError(f'--images {args.images}: no calibration input: no box of '
                             f'--bbox-file {args.bbox_file} (score >= {args.score_thr}) is in '
                             'an image of that folder (boxes are matched by file name or COCO '
                             'image id)')
        data = [{'input': x} if to_onnx else x for _, x in samples]
        model = nncf.quantize(model, nncf.Dataset(data), subset_size=len(data))
        quant.update(
            tool=f'nncf {nncf.__version__}, openvino {ov.__version__}',
            calibration=dict(
                images=len({p
                            for p, _ in samples}),
                inputs=len(samples),
                boxes=osp.basename(args.bbox_file) if boxes else None))
    meta = dict(meta, quantization=quant)
    meta.pop('integrity', None)
    if to_onnx:
        md.write_with_metadata(model, args.out, meta)
    else:
        save_ir(ov, model, args.out, meta, compress_to_fp16=args.precision == 'fp16')
    print(f'{args.out}: {args.precision} from {args.model}' +
          (f', calibrated on {quant["calibration"]["inputs"]} inputs from '
           f'{quant["calibration"]["images"]} images' if 'calibration' in quant else ''))
    return dict(out=args.out, metadata=meta)


if __name__ == '__main__':
    main()
