"""Whether a checkpoint's state dict fits a model, key by key and shape by shape.

mmengine loads checkpoints with ``strict=False``: keys the model lacks, keys the checkpoint lacks
and tensors of the wrong shape only produce warnings, so a checkpoint of another model "loads" and
the run goes on with random weights. :func:`check_state_dict_fits` compares the two and refuses such
a load unless a partial load was asked for; :func:`load_checkpoint_checked` is the one loader of the
package outside the runner (the builder :func:`mmpose_attn.utils.build_model`, the inferencer), and
the runner's loads go through :class:`~mmpose_attn.engine.hooks.CheckpointFitHook`.
"""
import re
from collections import OrderedDict
from typing import List, Mapping, Optional, Tuple, Union

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
        lines = [f'checkpoint {self.source} into {self.model_name}: '
                 f'{len(self.matched)} of {total} model tensors loaded, '
                 f'{len(self.missing)} new (not in the checkpoint), '
                 f'{len(self.mismatched)} shape-mismatched, '
                 f'{len(self.unexpected)} unexpected (not in the model)']

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


def check_state_dict_fits(model: nn.Module, state_dict: Mapping, source: str,
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


def load_checkpoint_checked(model: nn.Module, checkpoint: Union[str, Mapping],
                            allow_partial: bool = False, source: Optional[str] = None,
                            map_location: str = 'cpu') -> dict:
    """Load a checkpoint into ``model`` after :func:`check_state_dict_fits` accepted it.

    Args:
        model (nn.Module): The model to load into.
        checkpoint (str | Mapping): A file or URL (read with mmengine's ``_load_checkpoint``), or a
            checkpoint dict already read.
        allow_partial (bool): Load only the matching tensors instead of refusing a partial fit.
        source (str, optional): How messages name the checkpoint; defaults to its path.
        map_location (str): Where tensors are read to. Defaults to ``'cpu'``.

    Returns:
        dict: The checkpoint (with its ``meta``).

    Raises:
        CheckpointMismatchError: The checkpoint does not fit and ``allow_partial`` is False.
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
    check_state_dict_fits(model, ckpt.get('state_dict', ckpt), source=str(source),
                          allow_partial=allow_partial)
    _load_checkpoint_to_model(model, ckpt, strict=False)
    return dict(ckpt)
