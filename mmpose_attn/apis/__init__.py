"""Inference helpers for the demo tools (not imported by ``import mmpose_attn``: they pull in
mmdet lazily and are only needed for inference)."""
from .inference import (NONE_CHECKPOINT, BottomupPredictor, CocoDetections,
                        RandomWeightsWarning, TopdownPredictor, build_detector,
                        build_pose_model, build_visualizer, check_pose_config, detect_persons,
                        draw_pose, inference_bottomup_batch, input_kind, list_images,
                        load_config, open_video, predict_topdown, read_image, remove_init_cfg,
                        resolve_checkpoint, run_inference, save_predictions,
                        select_person_boxes)

__all__ = [
    'NONE_CHECKPOINT', 'BottomupPredictor', 'CocoDetections', 'RandomWeightsWarning',
    'TopdownPredictor', 'build_detector', 'build_pose_model', 'build_visualizer',
    'check_pose_config', 'detect_persons', 'draw_pose', 'inference_bottomup_batch', 'input_kind',
    'list_images', 'load_config', 'open_video', 'predict_topdown', 'read_image',
    'remove_init_cfg', 'resolve_checkpoint', 'run_inference', 'save_predictions',
    'select_person_boxes'
]
