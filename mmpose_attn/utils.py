"""Config and model helpers shared by the inference API, the analysis and deployment code, the
tools and the tests."""
import copy
import os.path as osp
from typing import Tuple, Union

from mmengine.config import Config, ConfigDict
from torch import Tensor, nn


def load_config(config: Union[str, Config], role: str = 'config') -> Config:
    """Load a config file, or ``<package>::<path>`` for a config bundled with an installed
    OpenMMLab package (``mmpose::body_2d_keypoint/...``, ``mmdet::rtmdet/...``).

    ``Config.fromfile`` resolves that prefix only inside ``_base_``; this resolves it at top level
    too, reading the package's ``.mim/configs`` directly (``mmengine.hub.get_config`` would also
    try to pip-install a missing package). Custom imports (``custom_imports``) run while loading.

    Args:
        config: A path, a ``package::`` path, or a :class:`Config` (returned as a deep copy, since
            callers edit nested dicts such as ``init_cfg``).
        role: How the caller names this argument in error messages, e.g. ``'POSE_CONFIG'``.
    """
    if isinstance(config, Config):
        return copy.deepcopy(config)
    config = str(config)
    if '::' in config:
        package, rel = config.split('::', 1)
        try:
            module = __import__(package)
        except ImportError as e:
            raise FileNotFoundError(f'{role} {config!r}: package {package!r} is not installed '
                                    f'({e}).') from e
        path = osp.join(osp.dirname(module.__file__), '.mim', 'configs', rel)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{role} {config!r} was not found in the installed package (looked at {path}). '
                'Check the relative path, e.g. mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py.')
        return Config.fromfile(path)
    if not osp.isfile(config):
        raise FileNotFoundError(
            f'{role} {config!r} does not exist. Pass a config file or an installed package '
            'config such as mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py.')
    return Config.fromfile(config)


def remove_init_cfg(cfg: Union[dict, list]) -> None:
    """Set every ``init_cfg`` (and ``pretrained``) in a model config to ``None``, in place.

    Pretrained ``init_cfg`` point at URLs (``torchvision://``, ``https://``); nothing may be
    downloaded when a model runs with random weights or its weights come from a checkpoint.
    """
    if isinstance(cfg, dict):
        for key in list(cfg.keys()):
            if key in ('init_cfg', 'pretrained'):
                cfg[key] = None
            else:
                remove_init_cfg(cfg[key])
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            remove_init_cfg(item)


def build_offline_model(cfg: Config, device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` in eval mode with every ``init_cfg=None`` (no weights downloaded)."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    model_cfg = cfg.model.to_dict()
    remove_init_cfg(model_cfg)
    return MODELS.build(ConfigDict(model_cfg)).to(device).eval()


def input_hw(cfg: Config) -> Tuple[int, int]:
    """(H, W) of the network input from the config's ``codec.input_size`` (given as (W, H))."""
    codec = cfg.get('codec')
    if isinstance(codec, (list, tuple)):  # e.g. RTMPose-style lists of codecs
        codec = codec[0]
    size = codec.get('input_size') if codec else None
    if size is None:
        raise ValueError(f'{cfg.filename}: no codec.input_size to take the input shape from; '
                         'pass --shape H W')
    return int(size[1]), int(size[0])


class TensorForward(nn.Module):
    """``model._forward`` as a one-input module returning a tuple of tensors, for tracing
    (FLOP counting, ONNX export).

    Shapes: (N, 3, H, W) -> the head's raw outputs: (heatmaps, ) or (heatmaps, displacements).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        out = self.model._forward(x)
        return tuple(out) if isinstance(out, (list, tuple)) else (out, )
