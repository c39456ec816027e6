"""COCO dataset that validates its annotation file and images before parsing them."""
from mmpose.datasets import CocoDataset
from mmpose.registry import DATASETS

from .validated_mixin import ValidatedCocoStyleMixin


@DATASETS.register_module()
class ValidatedCocoDataset(ValidatedCocoStyleMixin, CocoDataset):
    """:class:`mmpose.datasets.CocoDataset` that runs the data check before mmpose parses the file.

    See :class:`~mmpose_attn.datasets.validated_mixin.ValidatedCocoStyleMixin` for when the check
    runs and :func:`~mmpose_attn.datasets.validate.validate_coco_annotations` for what it checks.
    Any COCO-format keypoint dataset works: pass its metainfo for other keypoint sets.

    Args:
        check_images: ``'header'`` (default), ``'decode'`` or ``'none'``.
        **kwargs: arguments of :class:`~mmpose.datasets.CocoDataset`.
    """
