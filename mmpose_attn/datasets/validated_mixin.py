"""Mixin running the data check on a COCO-style dataset before mmpose parses its annotations."""
from typing import List

from .validate import validate_coco_annotations


class ValidatedCocoStyleMixin:
    """Run :func:`~mmpose_attn.datasets.validate.validate_coco_annotations` before mmpose reads.

    Put it before an mmpose :class:`BaseCocoStyleDataset` subclass in the bases. The check runs in
    ``load_data_list``, i.e. while ``mim train``/``mim test`` build the dataloaders and before
    mmpose or xtcocotools open the annotation file, and raises one
    :class:`~mmpose_attn.datasets.validate.DatasetValidationError` naming the file, field and fix.

    Args:
        check_images: ``'header'`` (default: every image exists and is not truncated; about two
            small reads per file), ``'decode'`` (decode each image; slow) or ``'none'``.
        **kwargs: arguments of the mmpose dataset.
    """

    def __init__(self, *args, check_images: str = 'header', **kwargs) -> None:
        self.check_images = check_images
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        self.validation_summary = validate_coco_annotations(
            self.ann_file,
            img_dir=self.data_prefix.get('img', self.data_root),
            num_keypoints=self.metainfo['num_keypoints'],
            check_images=self.check_images,
            # with detection boxes the file only has to describe the images (e.g. COCO test-dev)
            require_annotations=not self.bbox_file)
        return super().load_data_list()
