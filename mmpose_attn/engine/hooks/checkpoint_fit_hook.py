"""Refuse a ``load_from`` / ``--resume`` / ``mim test --checkpoint`` that does not fit the model."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS

from ..checkpoint_fit import check_config_fits, check_state_dict_fits


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Check every checkpoint the runner loads against the model before mmengine loads it.

    mmengine's :meth:`Runner.load_checkpoint` (used for ``load_from``, ``mim test --checkpoint`` and
    ``--resume``) calls ``after_load_checkpoint`` right after reading the file and before copying
    the weights, with ``strict=False``. This hook runs
    :func:`~mmpose_attn.engine.checkpoint_fit.check_state_dict_fits` there, so a checkpoint whose
    keys or shapes differ stops the run with :class:`CheckpointMismatchError`, and so does one
    whose saved training config (``meta['cfg']``) defines another network than the config's
    ``model`` (:func:`~mmpose_attn.engine.checkpoint_fit.check_config_fits`). A config that sets
    the top-level ``allow_partial_load = True`` gets the partial load instead, with a summary of
    loaded, new and shape-mismatched keys in the log.

    The base runtime registers it as a default hook::

        default_hooks = dict(checkpoint_fit=dict(type='CheckpointFitHook'))
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse a checkpoint whose state dict does not fit the model (see
        :func:`~mmpose_attn.engine.checkpoint_fit.check_state_dict_fits`).
        """
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        allow_partial = bool(runner.cfg.get('allow_partial_load', False))
        source = (runner.cfg.get('load_from') or f'found by --resume in {runner.work_dir}')
        fit = check_state_dict_fits(
            model,
            checkpoint.get('state_dict', checkpoint),
            str(source),
            allow_partial=allow_partial)
        check_config_fits(
            checkpoint, runner.cfg.get('model'), str(source), allow_partial=allow_partial)
        if not fit.fits:
            runner.logger.warning('allow_partial_load = True: partial load of the ' + fit.summary())
