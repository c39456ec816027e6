"""Configs, checkpoints and devices for inference: what the demos accept beyond mmpose's
``init_model`` (``mmdet::``/``mmpose::`` config paths, the checkpoint word ``none``, a device
that exists) and the checks that name the bad argument and the fix."""
import logging
import os.path as osp
import warnings
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import print_log
from mmpose.registry import MODELS

from ..compat.numpy_draw_circles import scalar_circles_visualizer_cfg
from ..utils import build_model, load_config, remove_init_cfg

NONE_CHECKPOINT = 'none'


class RandomWeightsWarning(UserWarning):
    """Raised when a model runs with randomly initialised weights (checkpoint ``none``)."""


def resolve_device(device: Optional[str]) -> str:
    """The device to run on: ``cuda:0`` when CUDA is available and ``device`` is ``None``,
    else ``cpu``; a device that does not exist is refused before any model is built."""
    if device is None:
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    if str(device).startswith('cuda'):
        if not torch.cuda.is_available():
            raise RuntimeError(f'--device {device}: CUDA is not available on this machine '
                               '(torch.cuda.is_available() is False); pass --device cpu, or '
                               'leave --device out to use the GPU when there is one.')
        index = str(device).partition(':')[2]
        if index.isdigit() and int(index) >= torch.cuda.device_count():
            raise RuntimeError(f'--device {device}: this machine has '
                               f'{torch.cuda.device_count()} CUDA device(s); pass cuda:0 .. '
                               f'cuda:{torch.cuda.device_count() - 1} or cpu.')
    return str(device)


def pose_estimator_kind(cfg: Config) -> Optional[str]:
    """``'topdown'``/``'bottomup'`` for an mmpose pose-estimator config, ``None`` otherwise."""
    import mmpose.models  # noqa: F401  (fills the registry)
    from mmpose.models.pose_estimators import BottomupPoseEstimator, TopdownPoseEstimator
    from mmpose.models.pose_estimators.base import BasePoseEstimator
    model_type = _model_type(cfg)
    if model_type is None:
        return None
    cls = model_type if isinstance(model_type, type) else MODELS.get(model_type)
    if not (isinstance(cls, type) and issubclass(cls, BasePoseEstimator)):
        return None
    if issubclass(cls, TopdownPoseEstimator):
        return 'topdown'
    if issubclass(cls, BottomupPoseEstimator):
        return 'bottomup'
    return 'other'


def _model_type(cfg: Config):
    model = cfg.get('model')
    return model.get('type') if isinstance(model, dict) else None


def check_pose_config(cfg: Config, expect: Optional[str] = None) -> str:
    """Raise a clear error unless ``cfg`` is a pose config (of kind ``expect`` when given)."""
    kind = pose_estimator_kind(cfg)
    name = cfg.filename or 'the config'
    model_type = _model_type(cfg)
    if kind is None:
        raise ValueError(
            f'POSE_CONFIG {name} is not an mmpose pose config: its model.type is {model_type!r} '
            f"(default_scope={cfg.get('default_scope')!r}), not an mmpose pose estimator. "
            'Pass a pose config such as configs/esam/coco/'
            'td-hm_esam-res50_8xb64-270e_coco-256x192.py; detector configs go to DET_CONFIG.')
    if expect is not None and kind != expect:
        tool = {
            'topdown': 'tools/topdown_demo_with_mmdet.py',
            'bottomup': 'tools/bottomup_demo.py'
        }.get(kind, 'the matching tool')
        raise ValueError(f'POSE_CONFIG {name} is a {kind} model ({model_type}), but a {expect} '
                         f'model is needed here; run {tool} for it.')
    return kind


def resolve_checkpoint(checkpoint: Optional[str],
                       role: str = 'checkpoint',
                       weights_from: Optional[str] = None) -> Optional[str]:
    """Return the checkpoint to load, or ``None`` for random weights (the word ``none``).

    Random weights produce meaningless keypoints, so this warns loudly (log banner and a
    :class:`RandomWeightsWarning`), unless ``weights_from`` says where the weights come from
    instead (e.g. ``'the ONNX file x.onnx'``), which is then logged.
    """
    if (checkpoint is None or str(checkpoint).lower() == NONE_CHECKPOINT) and weights_from:
        print_log(
            f'{role} is "none": the network\'s weights come from {weights_from}.',
            logger='current',
            level=logging.INFO)
        return None
    if checkpoint is None or str(checkpoint).lower() == NONE_CHECKPOINT:
        msg = (f'{role} is "none": the model runs with RANDOMLY INITIALISED weights. Its '
               'predictions are MEANINGLESS; use this only for smoke tests.')
        print_log(
            '\n' + '!' * 80 + f'\n!!! {msg}\n' + '!' * 80, logger='current', level=logging.WARNING)
        warnings.warn(msg, RandomWeightsWarning, stacklevel=2)
        return None
    checkpoint = str(checkpoint)
    if '://' not in checkpoint and not osp.isfile(osp.expanduser(checkpoint)):
        raise FileNotFoundError(
            f'{role} {checkpoint!r} does not exist. Pass a .pth file, a URL, or the word '
            f'"{NONE_CHECKPOINT}" for random weights (smoke tests only).')
    return checkpoint


def prepare_pose_config(config: Union[str, Config],
                        checkpoint: Optional[str],
                        cfg_options: Optional[dict] = None,
                        expect: Optional[str] = None,
                        output_heatmaps: bool = False,
                        weights_from: Optional[str] = None) -> Tuple[Config, Optional[str]]:
    """The checked pose config and the checkpoint to load (``None`` for ``none``).

    Args:
        config: Pose config (file, ``mmpose::`` path or :class:`Config`).
        checkpoint: A ``.pth``/URL, or ``'none'`` for random weights.
        cfg_options: Overrides merged into the config (``--cfg-options``).
        expect: ``'topdown'`` or ``'bottomup'`` to reject the other kind with a clear error.
        output_heatmaps: Keep heatmaps in the predictions (``--draw-heatmap``).
        weights_from: Where the weights come from when the checkpoint is ``none`` on purpose
            (an ONNX file): said instead of the random-weights warning.

    A stock mmpose config's ``PoseLocalVisualizer`` becomes ``ScalarCirclesPoseLocalVisualizer``
    where numpy needs it (``mmpose_attn.compat.numpy_draw_circles``), so that the demos draw
    with any pose config; the plugin's configs select it themselves.
    """
    cfg = load_config(config, 'POSE_CONFIG')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_pose_config(cfg, expect)
    if cfg.get('visualizer') is not None:
        cfg.visualizer = scalar_circles_visualizer_cfg(cfg.visualizer)
    if output_heatmaps:
        cfg.merge_from_dict(dict(model=dict(test_cfg=dict(output_heatmaps=True))))
    checkpoint = resolve_checkpoint(checkpoint, 'POSE_CHECKPOINT', weights_from)
    if checkpoint is None:  # random weights: nothing may be downloaded
        remove_init_cfg(cfg.model)
    return cfg, checkpoint


def prepare_det_config(config: Union[str, Config],
                       checkpoint: Optional[str]) -> Tuple[Config, Optional[str]]:
    """The checked mmdet detector config and the checkpoint to load (``None`` for ``none``)."""
    try:
        import mmdet  # noqa: F401
    except ImportError as e:
        raise ImportError('The top-down demo needs mmdet>=3.0 for person detection; install '
                          'it (mim install "mmdet>=3.0") or pass --bbox-file.') from e
    cfg = load_config(config, 'DET_CONFIG')
    if pose_estimator_kind(cfg) is not None:
        raise ValueError(f'DET_CONFIG {cfg.filename} is an mmpose pose config; pass an mmdet '
                         'detector config such as mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py '
                         'and give the pose config as POSE_CONFIG.')
    checkpoint = resolve_checkpoint(checkpoint, 'DET_CHECKPOINT')
    if checkpoint is None:
        remove_init_cfg(cfg.model)
    return cfg, checkpoint


def require_dataset_meta(model: nn.Module, cfg: Config) -> nn.Module:
    """Raise a clear error when neither the checkpoint nor the config gave the model its dataset
    metainfo (keypoint names, flip pairs, skeleton), which prediction and drawing need."""
    if getattr(model, 'dataset_meta', None) is None:
        raise ValueError(
            f'POSE_CONFIG {cfg.filename or "(config)"}: no dataset metainfo (keypoint names, '
            'flip pairs, skeleton) in the checkpoint (meta["dataset_meta"]) nor in the '
            "config's train/val/test dataset (looked through RepeatDataset, "
            'ClassBalancedDataset and ConcatDataset wrappers). Give the dataset a metainfo, '
            "e.g. metainfo=dict(from_file='configs/_base_/datasets/coco.py'), or use a "
            'checkpoint saved by mmpose 1.x.')
    return model


def build_pose_model(config: Union[str, Config],
                     checkpoint: Optional[str],
                     device: Optional[str] = 'cpu',
                     cfg_options: Optional[dict] = None,
                     expect: Optional[str] = None,
                     output_heatmaps: bool = False) -> nn.Module:
    """A pose estimator in eval mode, its config checked as :func:`prepare_pose_config` does,
    built by the package's one builder :func:`mmpose_attn.utils.build_model`: a checkpoint that
    does not fit the model is refused (:class:`~mmpose_attn.engine.checkpoint_fit.
    CheckpointMismatchError`) unless the config sets ``allow_partial_load = True``."""
    device = resolve_device(device)
    cfg, checkpoint = prepare_pose_config(config, checkpoint, cfg_options, expect, output_heatmaps)
    return require_dataset_meta(build_model(cfg, checkpoint, device=device), cfg)
