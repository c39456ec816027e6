"""Checkpoints under torch >= 2.6 (``torch.load(weights_only=True)`` by default).

Upstream problem: torch 2.6 made ``weights_only=True`` the default of ``torch.load``. mmengine
0.10.7's checkpoint loaders call ``torch.load`` without the argument, and the checkpoints its Runner
writes hold numpy arrays and scalars (``meta.dataset_meta``) and ``HistoryBuffer`` objects
(``message_hub``), which the weights-only unpickler refuses ("Unsupported global:
numpy._core.multiarray._reconstruct"): ``load_from``, ``--resume``, ``mim test --checkpoint``,
``init_model`` and mmpose's ``tools/misc/publish_model.py`` all fail. Reported as
open-mmlab/mmengine#1655; the proposed fix, open-mmlab/mmengine#1650 (``weights_only=False`` in
mmengine's loaders), is not merged: unfixed as of mmengine 0.10.7.

Applies to: mmengine 0.10.x with torch >= 2.6.

Guard: :func:`needs_weights_only_format` on the installed torch version. Where it holds:

* writing: :class:`WeightsOnlyCheckpointHook` (in the plugin's base config) turns the numpy objects
  and ``HistoryBuffer``s of ``meta`` and ``message_hub`` into tensors and plain Python containers
  tagged with :data:`MARKER` (:func:`encode`) just before mmengine saves a checkpoint, so any plain
  ``torch.load`` -- publish_model.py, a user's script -- reads it with ``weights_only=True``;
* reading: importing this module registers a local-file loader (the empty prefix, through the
  public ``CheckpointLoader.register_scheme``) that loads with ``weights_only=True`` and restores
  the tagged objects (:func:`decode`), so ``init_model`` returns numpy ``dataset_meta`` and
  ``--resume`` restores ``message_hub`` exactly. A checkpoint written without the hook (mmpose's
  model zoo, older runs) is refused by the weights-only unpickler; it is then loaded with
  ``weights_only=False``, as torch < 2.6 did, after a warning: that trusts the file (unpickling can
  run code), so only load such checkpoints from sources you trust.

The hook also decodes in ``after_load_checkpoint``, which mmengine calls before
``message_hub.load_state_dict`` on resume, for checkpoints read through other loaders (URLs, object
storage). No global is added to torch's weights-only allow-list.
"""
import logging
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, Optional, Union

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.utils import digit_version
from mmpose.registry import HOOKS

WEIGHTS_ONLY_DEFAULT_SINCE = '2.6.0'
MARKER = '__mmpose_attn_encoded__'  # key of a dict that stands for an encoded object
ENCODED_KEYS = ('meta', 'message_hub')  # the checkpoint parts that hold numpy / HistoryBuffer


def needs_weights_only_format(torch_version: str = torch.__version__) -> bool:
    """Whether ``torch.load`` defaults to ``weights_only=True`` (torch >= 2.6)."""
    return digit_version(torch_version) >= digit_version(WEIGHTS_ONLY_DEFAULT_SINCE)


WEIGHTS_ONLY_FORMAT_NEEDED = needs_weights_only_format()


# ------------------------------------------------------------------------- encode / decode
def _encode_array(array: np.ndarray) -> dict:
    if array.dtype.kind in 'biufc' and array.dtype.isnative:
        # numeric arrays travel as tensors (exact, compact); the dtype string restores e.g. uint16
        data = torch.from_numpy(np.ascontiguousarray(array).copy())
    else:  # strings, objects: nested lists of (encoded) Python values
        data = encode(array.tolist())
    return {MARKER: 'ndarray', 'dtype': array.dtype.str, 'shape': list(array.shape), 'data': data}


def encode(obj: Any) -> Any:
    """``obj`` with numpy arrays/scalars and ``HistoryBuffer``s replaced by tagged plain containers.

    Containers are rebuilt, never modified: the Runner's live objects (e.g. the dataset's metainfo)
    are left as they are. Tensors and Python scalars are kept.
    """
    if isinstance(obj, np.ndarray):
        return _encode_array(obj)
    if isinstance(obj, np.generic):
        return {MARKER: 'numpy_scalar', 'value': _encode_array(np.asarray(obj))}
    if isinstance(obj, HistoryBuffer):
        return {
            MARKER: 'HistoryBuffer',
            'max_length': obj.max_length,
            'log_history': _encode_array(obj._log_history),
            'count_history': _encode_array(obj._count_history)
        }
    if isinstance(obj, OrderedDict):
        return OrderedDict((k, encode(v)) for k, v in obj.items())
    if isinstance(obj, dict):  # dict subclasses (ConfigDict, ...) become plain dicts
        return {k: encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):  # namedtuples become tuples
        items = [encode(v) for v in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    return obj


def _decode_array(enc: dict) -> np.ndarray:
    data = enc['data']
    if isinstance(data, torch.Tensor):
        # .cpu(): --resume loads onto the training device (map_location)
        return data.cpu().numpy().astype(np.dtype(enc['dtype']), copy=False).reshape(enc['shape'])
    return np.array(decode(data), dtype=np.dtype(enc['dtype'])).reshape(enc['shape'])


def decode(obj: Any) -> Any:
    """The inverse of :func:`encode`; anything without :data:`MARKER` is returned unchanged."""
    if isinstance(obj, dict):
        kind = obj.get(MARKER)
        if kind == 'ndarray':
            return _decode_array(obj)
        if kind == 'numpy_scalar':
            return _decode_array(obj['value'])[()]
        if kind == 'HistoryBuffer':
            return HistoryBuffer(
                _decode_array(obj['log_history']), _decode_array(obj['count_history']),
                obj['max_length'])
        return type(obj)((k, decode(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(decode(v) for v in obj)
    return obj


def encode_checkpoint(checkpoint: dict) -> None:
    """Encode ``checkpoint``'s :data:`ENCODED_KEYS` in place (the weights are left alone)."""
    for key in ENCODED_KEYS:
        if key in checkpoint:
            checkpoint[key] = encode(checkpoint[key])


def decode_checkpoint(checkpoint: Any) -> Any:
    """Decode ``checkpoint``'s :data:`ENCODED_KEYS` in place; returns ``checkpoint``."""
    if isinstance(checkpoint, dict):
        for key in ENCODED_KEYS:
            if key in checkpoint:
                checkpoint[key] = decode(checkpoint[key])
    return checkpoint


# ------------------------------------------------------------------------- reading
def load_from_local(filename: str, map_location: Optional[Union[str, torch.device]] = None) -> dict:
    """Load a local checkpoint with ``weights_only=True`` and decode it (see the module docstring).

    A file the weights-only unpickler refuses is loaded with ``weights_only=False`` after a warning.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        checkpoint = torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        print_log(
            f'{filename} holds objects outside torch\'s weights-only format (it was not written '
            f'by a config with WeightsOnlyCheckpointHook): loading it with weights_only=False, '
            f'which trusts the file (unpickling can run code). Weights-only refusal: '
            f'{str(error).splitlines()[-1][:200]}',
            logger='current',
            level=logging.WARNING)
        checkpoint = torch.load(filename, map_location=map_location, weights_only=False)
    return decode_checkpoint(checkpoint)


if WEIGHTS_ONLY_FORMAT_NEEDED:
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)


# ------------------------------------------------------------------------- writing
@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Write checkpoints that ``torch.load(weights_only=True)`` reads; restore them at load.

    Before each checkpoint is saved, the numpy arrays/scalars and ``HistoryBuffer`` objects of its
    ``meta`` and ``message_hub`` are encoded as tensors and plain containers (:func:`encode`), only
    under torch >= 2.6 (:func:`needs_weights_only_format`); the model, optimizer and scheduler
    states are saved as mmengine makes them. After a checkpoint is loaded (``load_from``,
    ``--resume``; before mmengine restores ``message_hub`` from it) encoded parts are decoded.

    It has the lowest priority, so that it encodes what every other hook has put into the
    checkpoint. Use it in a config as::

        custom_hooks = [dict(type='WeightsOnlyCheckpointHook')]
    """

    priority = 'LOWEST'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if WEIGHTS_ONLY_FORMAT_NEEDED:
            encode_checkpoint(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        decode_checkpoint(checkpoint)
