"""COCO-style dataset that validates its annotation file and images before parsing them."""
from mmpose.datasets import CocoDataset
from mmpose.registry import DATASETS

from .validate import validate_coco_annotations


@DATASETS.register_module()
class ValidatedCocoDataset(CocoDataset):
    """:class:`mmpose.datasets.CocoDataset` that runs :func:`validate_coco_annotations` first.

    The check runs when the dataset loads its annotations, i.e. while ``mim train``/``mim test`` build
    the dataloaders and before the first iteration, and raises one
    :class:`~mmpose_attn.datasets.validate.DatasetValidationError` naming the file, field and fix.
    Any COCO-format keypoint dataset works: pass its metainfo for other keypoint sets, e.g.
    ``metainfo=dict(from_file='configs/_base_/datasets/crowdpose.py')`` for CrowdPose.

    Args:
        check_images: ``'header'`` (default: every image exists and is not truncated; about two small
            reads per file), ``'decode'`` (decode each image; slow) or ``'none'``.
        **kwargs: arguments of :class:`~mmpose.datasets.CocoDataset`.
    """

    def __init__(self, *args, check_images: str = 'header', **kwargs) -> None:
        self.check_images = check_images
        super().__init__(*args, **kwargs)

    def _load_annotations(self):
        self.validation_summary = validate_coco_annotations(
            self.ann_file,
            img_dir=self.data_prefix.get('img', self.data_root),
            num_keypoints=self.metainfo['num_keypoints'],
            check_images=self.check_images)
        return super()._load_annotations()
