"""Generate a small pose dataset in the exact COCO keypoint or CrowdPose json format.

Thin CLI over :func:`mmpose_attn.datasets.synthetic.make_dataset` (the format is described there)::

    python tools/synthetic_dataset.py OUT_DIR --dataset coco --train-images 200 \\
        --val-images 50 --seed 0
"""
import argparse
import json
from typing import List, Optional

from mmpose_attn.datasets.synthetic import DATASETS, make_dataset


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='output root (annotations/ and images/ are written there)')
    parser.add_argument('--dataset', choices=sorted(DATASETS), default='coco')
    parser.add_argument('--train-images', type=int, default=200)
    parser.add_argument('--val-images', type=int, default=50)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    paths = make_dataset(args.out_dir, args.dataset, args.train_images, args.val_images, args.seed)
    for split in ('train', 'val'):
        with open(paths[f'{split}_ann']) as f:
            d = json.load(f)
        print(f'{split}: {len(d["images"])} images, {len(d["annotations"])} people -> '
              f'{paths[f"{split}_ann"]}')
    print(f'images: {paths["img_dir"]}')


if __name__ == '__main__':
    main()
