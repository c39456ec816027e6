"""mmpose_attn's exported pose models (ESAM top-down, SAMKR/DEKR bottom-up) on numpy, OpenCV and
ONNX Runtime (or OpenVINO) only: no torch, mmcv, mmengine or mmpose.

    from mmpose_attn_runtime import TopDown, BottomUp, draw
    keypoints, scores = TopDown('esam.onnx')(image_bgr, boxes_xyxy)
    keypoints, scores = BottomUp('samkr.onnx')(image_bgr)
"""
from .draw import draw
from .estimators import BottomUp, TopDown
from .model_file import ModelFileError

__version__ = '0.1.0'

__all__ = ['TopDown', 'BottomUp', 'draw', 'ModelFileError', '__version__']
