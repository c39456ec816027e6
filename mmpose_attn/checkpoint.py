"""Checkpoint loading under torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7 calls ``torch.load``
without the argument, and its checkpoints hold numpy arrays and ``HistoryBuffer`` objects in
``message_hub``/``meta``, so ``load_from``, ``--resume``, ``mim test --checkpoint`` and
``init_model`` fail with "Unsupported global: numpy._core.multiarray._reconstruct".

Importing :mod:`mmpose_attn` re-registers mmengine's local-file scheme (the empty prefix) through the
public :meth:`CheckpointLoader.register_scheme` with ``weights_only=False``. This trusts the file:
unpickling can run arbitrary code, exactly as with torch < 2.6, so only load checkpoints you trust.
Stock mmpose configs that do not import this plugin get the same with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``.
"""
import os.path as osp
from typing import Optional, Union

import torch
from mmengine.runner.checkpoint import CheckpointLoader


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str,
                    map_location: Optional[Union[str, torch.device]] = None) -> dict:
    """Load a local checkpoint file, trusting its pickled content (see module docstring)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)
