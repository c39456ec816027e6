"""Start ESAM / SAMKR training from a trained stock mmpose checkpoint (``load_from``)."""
import re
from typing import Dict, List, Mapping, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS
from torch import nn

from ...models.layers.ulsam import ULSAM

#: What each stock family gives: state-dict key prefixes that are transferred.
SOURCES: Dict[str, Tuple[str, ...]] = {
    'simplebaseline': ('backbone.', ),
    'dekr': ('backbone.', 'head.heatmap_conv_layers.', 'head.displacement_conv_layers.',
             'head.rescore_net.'),
}


def _check_source(source: str) -> None:
    """Refuse a ``source`` that is not one of :data:`SOURCES`."""
    if source not in SOURCES:
        raise ValueError(f'WarmStartHook: source={source!r} is not one of {sorted(SOURCES)}')


def _ulsam_index(model: nn.Module) -> int:
    """Index of the ULSAM layer in the head's displacement branch, -1 when it has none."""
    layers = getattr(getattr(model, 'head', None), 'displacement_conv_layers', None)
    for i, layer in enumerate(layers if layers is not None else []):
        if isinstance(layer, ULSAM):
            return i
    return -1


def warm_start_state_dict(state_dict: Mapping, model: nn.Module,
                          source: str) -> Tuple[Dict, List[Tuple[str, str]], List[str]]:
    """Map a stock checkpoint's state dict onto ``model``'s key names.

    Args:
        state_dict: The stock model's state dict (``backbone.*``, ``head.*`` keys).
        model: The model to warm-start (unwrapped).
        source: ``'simplebaseline'`` or ``'dekr'`` (see :data:`SOURCES`).

    Returns:
        tuple: the new state dict, the ``(stock_key, new_key)`` renames, the dropped stock keys.
    """
    _check_source(source)
    keep = SOURCES[source]
    ulsam = _ulsam_index(model) if source == 'dekr' else -1
    pattern = re.compile(r'^head\.displacement_conv_layers\.(\d+)\.(.*)$')
    out, renamed, dropped = {}, [], []
    for key, value in state_dict.items():
        if not key.startswith(keep):
            dropped.append(key)
            continue
        new = key
        m = pattern.match(key)
        if ulsam >= 0 and m and int(m.group(1)) >= ulsam:
            # stock layers from ULSAM's position on sit one index further in SAMKR
            new = f'head.displacement_conv_layers.{int(m.group(1)) + 1}.{m.group(2)}'
            renamed.append((key, new))
        out[new] = value
    return out, renamed, dropped


@HOOKS.register_module()
class WarmStartHook(Hook):
    """Rewrite a stock mmpose checkpoint given as ``load_from`` for ESAM / SAMKR.

    A SimpleBaseline checkpoint gives ESAM its ResNet backbone; a DEKR checkpoint gives SAMKR
    its backbone, heatmap branch and the displacement-branch tensors whose shapes match (the
    layers after ULSAM's position move one index up). Keys the model cannot use are dropped.
    A checkpoint that already has every key of the model (the model's own, e.g. on ``--resume``)
    is left alone. The runner then loads the rewritten state dict; set
    ``allow_partial_load = True`` so the new / shape-mismatched tensors keep their initialisation.

    Args:
        source (str): The stock family of ``load_from``: ``'simplebaseline'`` or ``'dekr'``.
    """

    # before any other after_load_checkpoint hook (CheckpointFitHook, VERY_HIGH) sees the keys
    priority = 'HIGHEST'

    def __init__(self, source: str) -> None:
        _check_source(source)
        self.source = source

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Map a stock model's checkpoint (``load_from``) onto this model's keys."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state_dict = checkpoint.get('state_dict', checkpoint)
        if set(model.state_dict()) <= set(state_dict):
            return  # the model's own checkpoint
        new, renamed, dropped = warm_start_state_dict(state_dict, model, self.source)
        state_dict.clear()
        state_dict.update(new)
        runner.logger.info(
            f'WarmStartHook ({self.source}): {len(new)} stock tensors kept under '
            f'{", ".join(SOURCES[self.source])}, {len(renamed)} renamed '
            f'({", ".join(f"{a} -> {b}" for a, b in renamed[:4])}), {len(dropped)} dropped' +
            (f' ({", ".join(dropped[:4])} ...)' if dropped else ''))
