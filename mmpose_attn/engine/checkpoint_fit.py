"""Whether a checkpoint's state dict fits a model, key by key and shape by shape.

mmengine loads checkpoints with ``strict=False``: keys the model lacks, keys the checkpoint lacks
and tensors of the wrong shape only produce warnings, so a checkpoint of another model "loads" and
the run goes on with random weights. :func:`check_state_dict_fits` compares the two and refuses such
a load unless a partial load was asked for; :func:`load_checkpoint_checked` is the one loader of the
package outside the runner (the builder :func:`mmpose_attn.utils.build_model`, the inferencer), and
the runner's loads go through :class:`~mmpose_attn.engine.hooks.CheckpointFitHook`.

Equal keys and shapes do not make the same network: ESAM's serial and parallel attention layouts
have the same tensors. Where a checkpoint carries its training config (mmengine saves it as
``meta['cfg']``), :func:`check_config_fits` compares its ``model`` section with the model's
config, field by field, and refuses a structural difference the same way.
"""
import inspect
import logging
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch.nn as nn

# How many keys of each kind an error or summary names; the counts are always complete.
_SHOWN_KEYS = 8


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's keys or tensor shapes do not fit the model it is loaded into."""


class CheckpointFit:
    """How a checkpoint's state dict fits a model.

    Args:
        source (str): Where the state dict came from (a path), named in messages.
        model_name (str): The model's class name, named in messages.
        matched (list[str]): Keys present in both with equal shapes (these load).
        missing (list[str]): Model keys the checkpoint lacks (they keep their initial values).
        unexpected (list[str]): Checkpoint keys the model lacks (ignored).
        mismatched (list[tuple[str, tuple, tuple]]): ``(key, checkpoint_shape, model_shape)`` of
            keys present in both with different shapes (not loaded).
    """

    def __init__(self, source: str, model_name: str, matched: List[str], missing: List[str],
                 unexpected: List[str], mismatched: List[Tuple[str, tuple, tuple]]) -> None:
        self.source = source
        self.model_name = model_name
        self.matched = matched
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched

    @property
    def fits(self) -> bool:
        """True when every model key loads and the checkpoint has nothing else."""
        return bool(self.matched) and not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """Counts of loaded / new / unexpected / shape-mismatched keys, the first few of each."""
        total = len(self.matched) + len(self.missing) + len(self.mismatched)
        lines = [
            f'checkpoint {self.source} into {self.model_name}: '
            f'{len(self.matched)} of {total} model tensors loaded, '
            f'{len(self.missing)} new (not in the checkpoint), '
            f'{len(self.mismatched)} shape-mismatched, '
            f'{len(self.unexpected)} unexpected (not in the model)'
        ]

        def show(title, items):
            if items:
                more = (f' ... and {len(items) - _SHOWN_KEYS} more'
                        if len(items) > _SHOWN_KEYS else '')
                lines.append(f'  {title}: ' + ', '.join(items[:_SHOWN_KEYS]) + more)

        show('loaded', self.matched)
        show('new', self.missing)
        show('shape-mismatched (checkpoint vs model)',
             [f'{k} {tuple(c)} vs {tuple(m)}' for k, c, m in self.mismatched])
        show('unexpected', self.unexpected)
        return '\n'.join(lines)

    def __repr__(self) -> str:
        return self.summary()


def _strip_module_prefix(state_dict: Mapping) -> Mapping:
    # mmengine's load_checkpoint strips a DDP 'module.' prefix by default (revise_keys).
    if state_dict and all(k.startswith('module.') for k in state_dict):
        return OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
    return state_dict


def check_state_dict_fits(model: nn.Module,
                          state_dict: Mapping,
                          source: str,
                          allow_partial: bool = False) -> CheckpointFit:
    """Compare a checkpoint's state dict with ``model.state_dict()`` and refuse a partial fit.

    Args:
        model (nn.Module): The model (unwrapped, i.e. not a DDP wrapper) the weights are loaded
            into.
        state_dict (Mapping): The checkpoint's ``state_dict`` (a whole checkpoint dict with a
            ``'state_dict'`` entry is accepted too). A ``module.`` prefix on every key is stripped,
            as mmengine does when loading.
        source (str): Where it came from (a path), named in the messages.
        allow_partial (bool): Return the fit instead of raising when it is partial. Defaults to
            False.

    Returns:
        CheckpointFit: matched, missing, unexpected and shape-mismatched keys.

    Raises:
        CheckpointMismatchError: Some keys or shapes differ (or nothing matched) and
            ``allow_partial`` is False.
    """
    if isinstance(state_dict, Mapping) and isinstance(state_dict.get('state_dict'), Mapping):
        state_dict = state_dict['state_dict']
    state_dict = _strip_module_prefix(state_dict)
    model_state = model.state_dict()
    matched, missing, mismatched = [], [], []
    for key, tensor in model_state.items():
        if key not in state_dict:
            missing.append(key)
            continue
        ckpt_shape = tuple(getattr(state_dict[key], 'shape', ()))
        if ckpt_shape != tuple(tensor.shape):
            mismatched.append((key, ckpt_shape, tuple(tensor.shape)))
        else:
            matched.append(key)
    unexpected = [k for k in state_dict if k not in model_state]
    fit = CheckpointFit(source, type(model).__name__, matched, missing, unexpected, mismatched)
    if not fit.fits and not allow_partial:
        raise CheckpointMismatchError(
            f'The {fit.summary()}\n'
            'This checkpoint does not fit the model (was it trained with another config?). '
            'Use the checkpoint of this config, or, to load only the matching tensors on purpose '
            '(e.g. fine-tuning from another model), set `allow_partial_load = True` in the config '
            '(--cfg-options allow_partial_load=True).')
    return fit


#: ``model`` config keys that do not change what a trained network computes at test time: its
#: initialisation, losses, training/test options, the codec (sizes a checkpoint may be tested
#: at), input normalisation, memory/implementation choices and training-only freezing.
_NOT_STRUCTURE = frozenset({
    'init_cfg', 'pretrained', 'train_cfg', 'test_cfg', 'data_preprocessor', 'decoder', 'codec',
    '_scope_', 'with_cp', 'frozen_stages', 'norm_eval', 'requires_grad', 'deform_conv_impl'
})
_ABSENT = '<absent>'


def _ignored(key: str) -> bool:
    return key in _NOT_STRUCTURE or key.startswith('loss') or key.endswith('_loss')


def _defaults(type_name: Any) -> Dict[str, Any]:
    """Constructor defaults of a registered model class, so that a field written out in one
    config and left to its default in the other is no difference."""
    from mmpose.registry import MODELS
    if type_name is None:  # a plain dict of settings (HRNet's ``extra`` stages), no class
        return {}
    try:
        cls = type_name if isinstance(type_name, type) else MODELS.get(type_name)
    except (KeyError, TypeError):
        return {}
    defaults: Dict[str, Any] = {}
    # a subclass passing **kwargs on (ESAMResNet -> ResNet): its bases' defaults count too
    for klass in reversed(getattr(cls, '__mro__', ())):
        try:
            params = inspect.signature(klass.__init__).parameters.values()
        except (TypeError, ValueError):
            continue
        defaults.update(
            {p.name: p.default
             for p in params if p.default is not inspect.Parameter.empty})
    return defaults


def _norm(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_norm(v) for v in value]
    if value == 'SyncBN':  # SyncBN is BN in eval mode (the builder reverts it)
        return 'BN'
    return value


def _structure_diff(ckpt: Any, model: Any, path: str, out: list) -> None:
    if isinstance(ckpt, Mapping) and isinstance(model, Mapping):
        defaults = _defaults(model.get('type')) if ckpt.get('type') == model.get('type') else {}
        for key in list(ckpt) + [k for k in model if k not in ckpt]:
            if _ignored(str(key)):
                continue
            a = ckpt.get(key, defaults.get(key, _ABSENT))
            b = model.get(key, defaults.get(key, _ABSENT))
            _structure_diff(a, b, f'{path}.{key}' if path else str(key), out)
    elif (isinstance(ckpt, (list, tuple)) and isinstance(model,
                                                         (list, tuple)) and len(ckpt) == len(model)
          and any(isinstance(v, (Mapping, list, tuple)) for v in list(ckpt) + list(model))):
        # lists of modules item by item; lists of numbers (kernel sizes) as a whole
        for i, (a, b) in enumerate(zip(ckpt, model)):
            _structure_diff(a, b, f'{path}.{i}', out)
    elif _norm(ckpt) != _norm(model):
        out.append((path, ckpt, model))


def structure_differences(ckpt_model_cfg: Mapping,
                          model_cfg: Mapping) -> List[Tuple[str, Any, Any]]:
    """Fields that define the network and differ between two ``model`` config dicts.

    Type, structural arguments (layouts, kernel sizes, subspace counts, flags) and nested
    modules are compared; :data:`_NOT_STRUCTURE` keys and losses are not. A field absent on one
    side counts as its class's constructor default.

    Returns:
        list[tuple[str, Any, Any]]: ``(dotted path, checkpoint value, model value)``.
    """
    out: List[Tuple[str, Any, Any]] = []
    _structure_diff(_plain(ckpt_model_cfg), _plain(model_cfg), '', out)
    return out


def _plain(cfg: Any) -> Any:
    return cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg


def checkpoint_model_cfg(ckpt: Mapping, source: str) -> Optional[dict]:
    """The ``model`` section of the config a checkpoint was trained with (``meta['cfg']``,
    the config text mmengine saves), or None when it carries none (mmpose's, ImageNet's) or
    the text cannot be read (said in the log)."""
    from mmengine.config import Config
    from mmengine.logging import print_log
    meta = ckpt.get('meta') if isinstance(ckpt, Mapping) else None
    text = meta.get('cfg') if isinstance(meta, Mapping) else None
    if isinstance(text, Mapping):
        model = text.get('model')
        return _plain(model) if isinstance(model, Mapping) else None
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        model = Config.fromstring(text, '.py').get('model')
    except Exception as e:  # e.g. a custom_imports module not installed here
        print_log(
            f'checkpoint {source}: its saved config (meta["cfg"]) cannot be read '
            f'({type(e).__name__}: {e}); only its keys and shapes are checked.',
            logger='current',
            level=logging.WARNING)
        return None
    return _plain(model) if isinstance(model, Mapping) else None


def check_config_fits(ckpt: Mapping,
                      model_cfg: Optional[Mapping],
                      source: str,
                      allow_partial: bool = False) -> List[Tuple[str, Any, Any]]:
    """Refuse a checkpoint whose saved training config defines another network than
    ``model_cfg`` (see :func:`structure_differences`).

    Args:
        ckpt (Mapping): The checkpoint dict (with ``meta``).
        model_cfg (Mapping, optional): The ``model`` section of the config loaded into; None
            skips the check.
        source (str): How messages name the checkpoint.
        allow_partial (bool): Log the differences instead of raising (a deliberate warm start).

    Returns:
        list: The differences (empty when none, or nothing to compare).

    Raises:
        CheckpointMismatchError: The networks differ and ``allow_partial`` is False.
    """
    from mmengine.logging import print_log
    saved = checkpoint_model_cfg(ckpt, source) if model_cfg is not None else None
    if saved is None:
        return []
    diffs = structure_differences(saved, model_cfg)
    if not diffs:
        return []
    listing = '\n'.join(f'  model.{p}: {a!r} in the checkpoint, {b!r} in the config'
                        for p, a, b in diffs)
    if allow_partial:
        print_log(
            f'allow_partial_load = True: checkpoint {source} was trained with another '
            f'network (its meta["cfg"]):\n{listing}',
            logger='current',
            level=logging.WARNING)
        return diffs
    raise CheckpointMismatchError(
        f'checkpoint {source} was trained with another network than this config\'s model '
        f'(compared with the training config it carries, meta["cfg"]):\n{listing}\n'
        'Equal tensor names and shapes do not make the same network: its predictions would '
        'be wrong. Use the checkpoint of this config (or the config it was trained with), or, '
        'to start from it on purpose (a warm start), set `allow_partial_load = True` in the '
        'config (--cfg-options allow_partial_load=True).')


def load_checkpoint_checked(model: nn.Module,
                            checkpoint: Union[str, Mapping],
                            allow_partial: bool = False,
                            source: Optional[str] = None,
                            map_location: str = 'cpu',
                            model_cfg: Optional[Mapping] = None) -> dict:
    """Load a checkpoint into ``model`` after :func:`check_state_dict_fits` accepted it.

    Args:
        model (nn.Module): The model to load into.
        checkpoint (str | Mapping): A file or URL (read with mmengine's ``_load_checkpoint``), or a
            checkpoint dict already read.
        allow_partial (bool): Load only the matching tensors instead of refusing a partial fit.
        source (str, optional): How messages name the checkpoint; defaults to its path.
        map_location (str): Where tensors are read to. Defaults to ``'cpu'``.
        model_cfg (Mapping, optional): The ``model`` config of ``model``: compared with the
            checkpoint's saved config (:func:`check_config_fits`) when it has one.

    Returns:
        dict: The checkpoint (with its ``meta``).

    Raises:
        CheckpointMismatchError: The checkpoint does not fit (keys, shapes, or the network of
            its saved config) and ``allow_partial`` is False.
    """
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
    if isinstance(checkpoint, Mapping):
        ckpt = checkpoint
    else:
        source = source or str(checkpoint)
        ckpt = _load_checkpoint(str(checkpoint), map_location=map_location)
    if not isinstance(ckpt, Mapping):
        raise CheckpointMismatchError(f'checkpoint {source} holds a {type(ckpt).__name__}, not a '
                                      'state dict or a checkpoint dict.')
    check_state_dict_fits(
        model, ckpt.get('state_dict', ckpt), source=str(source), allow_partial=allow_partial)
    check_config_fits(ckpt, model_cfg, str(source), allow_partial=allow_partial)
    _load_checkpoint_to_model(model, ckpt, strict=False)
    return dict(ckpt)
