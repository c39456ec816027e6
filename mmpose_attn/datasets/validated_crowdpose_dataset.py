"""CrowdPose dataset that validates its annotation file and images before parsing them."""
from mmpose.datasets import CrowdPoseDataset
from mmpose.registry import DATASETS

from .validated_mixin import ValidatedCocoStyleMixin


@DATASETS.register_module()
class ValidatedCrowdPoseDataset(ValidatedCocoStyleMixin, CrowdPoseDataset):
    """:class:`mmpose.datasets.CrowdPoseDataset` running the data check before mmpose parses it.

    Same check as :class:`~mmpose_attn.datasets.ValidatedCocoDataset`, with CrowdPose's 14-keypoint
    metainfo by default.

    Args:
        check_images: ``'header'`` (default), ``'decode'`` or ``'none'``.
        **kwargs: arguments of :class:`~mmpose.datasets.CrowdPoseDataset`.
    """
