"""Make the trainer die with ``mim`` or torchrun and DataLoader workers die with the trainer."""
import os

from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from ..lifetime import DieWithParentWorkerInit, die_with_parent, parent_command, supervisor

__all__ = ['DieWithParentHook', 'supervisor']


@HOOKS.register_module()
class DieWithParentHook(Hook):
    """Stop orphans: a killed ``mim`` takes its trainer along, a killed trainer its workers.

    * DataLoader workers (train, val, test loaders): their ``worker_init_fn`` is wrapped in
      :class:`~mmpose_attn.engine.lifetime.DieWithParentWorkerInit` before the loaders start them,
      so every worker gets SIGKILL when the trainer process exits, however it exits.
    * The trainer itself: only when its parent is a supervisor that does nothing else -- the
      ``mim`` command (``mim train``/``mim test`` run mmpose's tools as a child) or torchrun
      (``torch.distributed.run``/``launch``, whose workers in sessions of their own would otherwise
      outlive it and wait for its rendezvous store) -- or when ``MMPOSE_ATTN_DIE_WITH_PARENT=1``.
      A trainer started from a shell (``nohup python tools/train.py ... &``) is left alone, so it
      keeps running after the terminal closes. ``MMPOSE_ATTN_DIE_WITH_PARENT=0`` turns both off.
      The tie is first made when the plugin is imported (:func:`~mmpose_attn.engine.lifetime.
      tie_to_launcher`, while the config is read); ``before_run`` makes it again and logs it.

    Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere it does nothing. The base runtime registers
    it: ``default_hooks = dict(die_with_parent=dict(type='DieWithParentHook'))``.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.mode = os.environ.get('MMPOSE_ATTN_DIE_WITH_PARENT', '')

    def before_run(self, runner) -> None:
        """Tie the trainer to its launcher (see the class doc) and log it."""
        if self.mode == '0':
            return
        parent = supervisor(parent_command().split())
        if (self.mode == '1' or parent) and die_with_parent():
            runner.logger.info(f'The trainer stops when its parent process '
                               f'({parent or "MMPOSE_ATTN_DIE_WITH_PARENT=1"}) is killed.')

    def _wrap(self, loader) -> None:
        """Make the loader's workers die with the trainer (``worker_init_fn`` wrapped once)."""
        if self.mode == '0' or loader is None or getattr(loader, 'num_workers', 0) == 0:
            return
        if not isinstance(loader.worker_init_fn, DieWithParentWorkerInit):
            loader.worker_init_fn = DieWithParentWorkerInit(loader.worker_init_fn)

    def before_train(self, runner) -> None:
        """Tie the training loader's workers to the trainer."""
        self._wrap(runner.train_dataloader)

    def before_val(self, runner) -> None:
        """Tie the validation loader's workers to the trainer."""
        self._wrap(runner.val_dataloader)

    def before_test(self, runner) -> None:
        """Tie the test loader's workers to the trainer."""
        self._wrap(runner.test_dataloader)
