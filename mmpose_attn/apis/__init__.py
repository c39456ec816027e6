"""Inference API behind the demo tools (not imported by ``import mmpose_attn``: it pulls in
mmpose's inferencers and, for a detector, mmdet)."""
from .detections import (CocoDetections, DroppedDetectionsWarning, FileNameIdsWarning,
                         NoDetectionsWarning, select_person_boxes)
from .inferencer import (AttnPoseInferencer, SkippedInputsWarning, input_kind, list_images,
                         open_video, read_image, result_names, save_predictions)
from .models import (NONE_CHECKPOINT, RandomWeightsWarning, build_pose_model, check_pose_config,
                     pose_estimator_kind, prepare_det_config, prepare_pose_config,
                     require_dataset_meta, resolve_checkpoint, resolve_device)

__all__ = [
    'AttnPoseInferencer', 'CocoDetections', 'DroppedDetectionsWarning', 'FileNameIdsWarning',
    'NONE_CHECKPOINT', 'NoDetectionsWarning', 'RandomWeightsWarning', 'SkippedInputsWarning',
    'build_pose_model', 'check_pose_config', 'input_kind', 'list_images', 'open_video',
    'pose_estimator_kind', 'prepare_det_config', 'prepare_pose_config', 'read_image',
    'require_dataset_meta', 'resolve_checkpoint', 'resolve_device', 'result_names',
    'save_predictions', 'select_person_boxes'
]
