"""Draw a top-down model's predictions on a few images of a COCO-format annotation file.

The people are cropped at their ground-truth boxes (as in the top-down evaluation), the skeletons
are drawn by mmpose's ``PoseLocalVisualizer`` with the dataset's colours, one file per image:

    python tools/visualize_predictions.py CONFIG CHECKPOINT ANN_FILE IMG_DIR OUT_DIR [--num 4]
"""
import argparse
import json
import os
import os.path as osp
from collections import defaultdict
from typing import List, Optional

import mmcv
import numpy as np

import mmpose_attn  # noqa: F401  (registers the models; loads checkpoints under torch >= 2.6)


def visualize(config: str,
              checkpoint: str,
              ann_file: str,
              img_dir: str,
              out_dir: str,
              num: int = 4,
              device: str = 'cpu',
              kpt_thr: float = 0.3) -> List[str]:
    """Predict the people of the first ``num`` images of ``ann_file`` and write drawings.

    Returns the paths of the written images.
    """
    from mmpose.apis import inference_topdown
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    from mmpose_attn.apis import build_pose_model  # refuses a checkpoint that does not fit
    model = build_pose_model(config, checkpoint, device=device)
    visualizer = VISUALIZERS.build(model.cfg.visualizer)
    visualizer.set_dataset_meta(model.dataset_meta)

    with open(ann_file) as f:
        coco = json.load(f)
    boxes = defaultdict(list)
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        boxes[ann['image_id']].append([x, y, x + w, y + h])
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for image in [im for im in coco['images'] if boxes[im['id']]][:num]:
        img_path = osp.join(img_dir, image['file_name'])
        results = inference_topdown(model, img_path, np.array(boxes[image['id']]), 'xyxy')
        out_file = osp.join(out_dir, image['file_name'])
        visualizer.add_datasample(
            'prediction',
            mmcv.imread(img_path, channel_order='rgb'),
            data_sample=merge_data_samples(results),
            draw_gt=False,
            draw_bbox=True,
            kpt_thr=kpt_thr,
            show=False,
            out_file=out_file)
        written.append(out_file)
    return written


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('ann_file', help='COCO-format json whose boxes are used')
    parser.add_argument('img_dir', help='folder of the images named in ann_file')
    parser.add_argument('out_dir')
    parser.add_argument('--num', type=int, default=4, help='number of images to draw')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--kpt-thr', type=float, default=0.3)
    args = parser.parse_args(argv)
    for path in visualize(args.config, args.checkpoint, args.ann_file, args.img_dir, args.out_dir,
                          args.num, args.device, args.kpt_thr):
        print(path)


if __name__ == '__main__':
    main()
