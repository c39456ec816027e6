"""Config and model helpers shared by the inference API, the deployment code, the tools and the
tests, and interleaved wall-clock timing (:func:`time_interleaved`) for the benchmark tools."""
import copy
import os.path as osp
import time
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
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


#: Dataset wrappers (mmengine's, mmpose's) and where their wrapped dataset config is.
_WRAPPED = (('dataset', False), ('datasets', True))


def _unwrap_dataset(dataset_cfg):
    """The innermost dataset config of ``RepeatDataset``/``ClassBalancedDataset`` (``dataset``)
    and ``ConcatDataset``/``CombinedDataset`` (``datasets``: the first, whose metainfo mmengine's
    ``ConcatDataset`` keeps), unless a wrapper states its own ``metainfo``."""
    while isinstance(dataset_cfg, dict) and 'metainfo' not in dataset_cfg:
        for key, is_list in _WRAPPED:
            inner = dataset_cfg.get(key)
            if is_list and isinstance(inner, (list, tuple)) and inner:
                inner = inner[0]
            if isinstance(inner, dict):
                dataset_cfg = inner
                break
        else:
            return dataset_cfg
    return dataset_cfg


def dataset_meta_of_config(cfg: Config) -> Optional[dict]:
    """The dataset metainfo of a config's train (else val, else test) dataset, as mmpose's
    ``dataset_meta_from_config``, also through dataset wrappers (``RepeatDataset``,
    ``ClassBalancedDataset``, ``ConcatDataset``, ``CombinedDataset``); None when there is none."""
    from mmpose.apis.inference import dataset_meta_from_config
    for mode in ('train', 'val', 'test'):
        loader = cfg.get(f'{mode}_dataloader')
        dataset = loader.get('dataset') if isinstance(loader, dict) else None
        if not isinstance(dataset, dict):
            continue
        inner = Config(dict(train_dataloader=dict(dataset=_unwrap_dataset(dataset))))
        meta = dataset_meta_from_config(inner, dataset_mode='train')
        if meta is not None:
            return meta
    return None


def build_model(config: Union[str, Config],
                checkpoint: Optional[str] = None,
                device: str = 'cpu',
                cfg_options: Optional[dict] = None,
                allow_partial_load: Optional[bool] = None,
                train: bool = False) -> nn.Module:
    """Build a config's model, with the weights of ``checkpoint`` when given: the one model builder
    of the inference API, the demos, export, benchmark and analysis tools.

    Every ``init_cfg`` is removed first, so nothing is downloaded. A checkpoint is loaded through
    :func:`~mmpose_attn.engine.checkpoint_fit.load_checkpoint_checked`: one that does not fit the
    model (another model's, another config's) is refused, unless a partial load is asked for.
    ``model.dataset_meta`` comes from the checkpoint, else from the config's dataset (as mmpose's
    ``init_model``, and through dataset wrappers: :func:`dataset_meta_of_config`); ``model.cfg``
    is the config.

    Args:
        config: Config file, ``package::`` config or :class:`Config`.
        checkpoint: A checkpoint file or URL; ``None`` keeps the random initial weights (callers
            that take a checkpoint from a user say so).
        device: Where the model goes.
        cfg_options: Overrides merged into the config.
        allow_partial_load: Load only the matching tensors; defaults to the config's
            ``allow_partial_load`` (False when absent).
        train: Return the model in train mode (with its ``train_cfg``); else eval mode.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    from .engine.checkpoint_fit import load_checkpoint_checked
    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope') or 'mmpose')
    model_cfg = cfg.model.to_dict()
    remove_init_cfg(model_cfg)
    if not train and 'train_cfg' in model_cfg:
        model_cfg['train_cfg'] = None
    model = MODELS.build(ConfigDict(model_cfg))
    if not train:  # SyncBN needs a process group; in eval mode it is plain BN (as init_model)
        model = revert_sync_batchnorm(model)
    dataset_meta = None
    if checkpoint is not None:
        if allow_partial_load is None:
            allow_partial_load = bool(cfg.get('allow_partial_load', False))
        ckpt = load_checkpoint_checked(
            model, checkpoint, allow_partial=allow_partial_load, model_cfg=cfg.model)
        dataset_meta = ckpt.get('meta', {}).get('dataset_meta')
    if dataset_meta is None:
        dataset_meta = dataset_meta_of_config(cfg)
    if dataset_meta is not None:
        model.dataset_meta = dataset_meta
    model.cfg = cfg
    model.to(device)
    return model.train() if train else model.eval()


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


def synchronize(device: str) -> None:
    """Wait for the device's queued work (CUDA), so that wall times include it; no-op on CPU."""
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def time_interleaved(fns: Sequence[Callable[[], object]],
                     repeats: int,
                     warmup: int = 1,
                     device: str = 'cpu') -> List[List[float]]:
    """Wall times (s) of each function, called in turn (A, B, A, B, ...) ``repeats`` times.

    Interleaving lets load from other processes hit every function alike. Each function is first
    called ``warmup`` times untimed; on CUDA every timed call is synchronised.

    Returns:
        list: per function, its ``repeats`` wall times in seconds.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: List[List[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            synchronize(device)
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            ts.append(time.perf_counter() - t0)
    return times
