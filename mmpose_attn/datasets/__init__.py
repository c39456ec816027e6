from .transforms import MultiScaleBottomupResize, PackMultiScalePoseInputs
from .validate import DatasetValidationError, check_image_file, validate_coco_annotations
from .validated_coco_dataset import ValidatedCocoDataset
from .validated_crowdpose_dataset import ValidatedCrowdPoseDataset

__all__ = [
    'DatasetValidationError', 'MultiScaleBottomupResize', 'PackMultiScalePoseInputs',
    'ValidatedCocoDataset', 'ValidatedCrowdPoseDataset', 'check_image_file',
    'validate_coco_annotations'
]
