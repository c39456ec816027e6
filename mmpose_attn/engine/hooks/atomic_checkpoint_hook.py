"""CheckpointHook whose files survive a kill at any moment, and whose --resume always finds one."""
import glob
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmpose.registry import HOOKS

from ..atomic_io import atomic_write


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` that no kill can leave without a checkpoint.

    mmengine's hook deletes the oldest kept checkpoint *before* writing the new one, writes the
    checkpoint with a truncating ``open('wb')`` and rewrites ``last_checkpoint`` in place; a kill at
    the wrong moment leaves no complete checkpoint, a truncated one, or none named by
    ``last_checkpoint`` (then ``--resume`` silently starts from scratch). Here:

    * the checkpoint is written to a temp file, fsynced and renamed into place (the
      ``'atomic_local'`` file backend), so every ``epoch_N.pth`` / ``iter_N.pth`` on disk is
      complete;
    * ``last_checkpoint`` is then rewritten atomically, and only after that are checkpoints beyond
      ``max_keep_ckpts`` deleted (the parent runs with ``max_keep_ckpts=-1`` and never deletes);
    * with ``--resume``, ``last_checkpoint`` is pointed at the newest complete checkpoint in the
      work dir before mmengine reads it when it is missing, empty, names a file that is gone, or
      names an older checkpoint (a kill after the new checkpoint was published and before it was
      recorded);
    * leftover ``.*.tmp`` files of a killed write are removed at the next start.

    Use it in a config exactly like the stock hook::

        default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=10))

    All arguments are those of :class:`~mmengine.hooks.CheckpointHook`. For a local ``out_dir`` the
    default ``backend_args`` select the ``'atomic_local'`` file backend; explicit ``backend_args``
    (e.g. for object storage, whose uploads are atomic anyway) are respected, and the resume
    fallback and the deletion of old checkpoints then only apply to local directories.
    """

    def __init__(self,
                 *args,
                 out_dir: Optional[str] = None,
                 max_keep_ckpts: int = -1,
                 file_client_args: Optional[dict] = None,
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        self._local = out_dir is None or '://' not in str(out_dir)
        if backend_args is None and file_client_args is None and self._local:
            backend_args = dict(backend='atomic_local')
        super().__init__(
            *args,
            out_dir=out_dir,
            max_keep_ckpts=-1,
            file_client_args=file_client_args,
            backend_args=backend_args,
            **kwargs)
        self.keep_latest = max_keep_ckpts
        self._user_out_dir = out_dir

    # ----------------------------------------------------------------- resume fallback
    def _checkpoint_dir(self, runner) -> str:
        """The folder the checkpoints are written to (mmengine appends the work dir's name to
        an explicit ``out_dir``).
        """
        if self._user_out_dir is None:
            return runner.work_dir
        # mmengine's CheckpointHook appends the work dir's name to an explicit out_dir
        return osp.join(str(self._user_out_dir), osp.basename(osp.normpath(runner.work_dir)))

    def _complete_checkpoints(self, ckpt_dir: str) -> List[Tuple[int, str]]:
        """``(step, path)`` of the published ``filename_tmpl`` checkpoints, oldest first."""
        head, _, tail = self.filename_tmpl.partition('{}')
        pattern = re.compile(re.escape(head) + r'(\d+)' + re.escape(tail) + '$')
        found = []
        for name in os.listdir(ckpt_dir) if osp.isdir(ckpt_dir) else []:
            match = pattern.match(name)
            if match and osp.isfile(osp.join(ckpt_dir, name)):
                found.append((int(match.group(1)), osp.join(ckpt_dir, name)))
        return sorted(found)

    def before_run(self, runner) -> None:
        """On ``--resume``, point ``last_checkpoint`` at the newest complete checkpoint when a kill
        left it missing or older.
        """
        super().before_run(runner)
        if not (self._local and runner.cfg.get('resume') is True
                and not runner.cfg.get('load_from')):
            return
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        named = open(pointer).read().strip() if osp.isfile(pointer) else ''
        found = self._complete_checkpoints(self._checkpoint_dir(runner))
        if not found:
            return
        newest_step, newest = found[-1]
        if named and osp.isfile(named):
            named_step = self._step_of(named)
            # a pointer to another kind of file (set by hand) is respected
            if named_step is None or named_step >= newest_step:
                return
            why = (f'names {named}, but {newest} is newer: the job was killed after saving it and '
                   'before recording it')
        else:
            why = (f'is missing or names no file ({named!r}), as a job killed between saving a '
                   'checkpoint and recording it leaves it')
        runner.logger.warning(
            f'{pointer} {why}; resuming from the newest complete checkpoint {newest}.')
        if is_main_process():
            atomic_write(newest, pointer)

    def _step_of(self, path: str) -> Optional[int]:
        """The step in a ``filename_tmpl`` file name (``epoch_3.pth`` -> 3), else None."""
        head, _, tail = self.filename_tmpl.partition('{}')
        match = re.match(re.escape(head) + r'(\d+)' + re.escape(tail) + '$', osp.basename(path))
        return int(match.group(1)) if match else None

    # ----------------------------------------------------------------- saving
    def before_train(self, runner) -> None:
        """Remove the temporary files an interrupted checkpoint write left behind."""
        super().before_train(runner)
        if is_main_process() and self._local:
            # Only our own temp-file pattern (see atomic_write) is removed, never a checkpoint.
            for tmp in glob.glob(osp.join(str(self.out_dir), '.*.tmp')):
                os.remove(tmp)
                runner.logger.info(f'Removed {tmp} left by an interrupted checkpoint write.')

    def _after_possible_save(self, runner, previous: Optional[str]) -> None:
        """After a new checkpoint: rewrite ``last_checkpoint`` atomically, drop the old ones."""
        if self.last_ckpt is None or self.last_ckpt == previous or not is_main_process():
            return
        # the parent wrote last_checkpoint in place; rewrite it atomically (a kill during the
        # parent's write is repaired by before_run on --resume)
        atomic_write(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        if self.keep_latest > 0 and self._local:
            for _, path in self._complete_checkpoints(str(self.out_dir))[:-self.keep_latest]:
                if path != self.last_ckpt:
                    os.remove(path)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """mmengine's save by iteration, then :meth:`_after_possible_save`."""
        previous = self.last_ckpt
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        self._after_possible_save(runner, previous)

    def after_train_epoch(self, runner) -> None:
        """mmengine's save by epoch, then :meth:`_after_possible_save`."""
        previous = self.last_ckpt
        super().after_train_epoch(runner)
        self._after_possible_save(runner, previous)

    def after_val_epoch(self, runner, metrics) -> None:
        """mmengine's save of the best checkpoint, then :meth:`_after_possible_save`."""
        previous = self.last_ckpt
        super().after_val_epoch(runner, metrics)
        self._after_possible_save(runner, previous)
