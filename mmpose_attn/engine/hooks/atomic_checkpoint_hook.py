"""CheckpointHook whose files survive being killed mid-write."""
import glob
import os
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmpose.registry import HOOKS

from ..atomic_io import atomic_write


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` with atomic ``epoch_N.pth`` and ``last_checkpoint`` writes.

    ``--resume`` reads ``work_dir/last_checkpoint`` and loads the file it names. The stock hook writes
    the checkpoint with a truncating ``open('wb')`` and then rewrites ``last_checkpoint`` in place, so a
    kill at the wrong moment leaves an empty ``last_checkpoint`` or a truncated checkpoint. Here both go
    through :func:`~mmpose_attn.engine.atomic_io.atomic_write` (temp file + fsync + ``os.replace``), and
    ``last_checkpoint`` is only updated after the checkpoint is complete on disk, so it always names a
    whole file. Leftover ``.*.tmp`` files from a killed write are removed at the next start.

    Use it in a config exactly like the stock hook::

        default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=10))

    All arguments are those of :class:`~mmengine.hooks.CheckpointHook`. For a local ``out_dir`` the
    default ``backend_args`` select the ``'atomic_local'`` file backend; explicit ``backend_args`` (e.g.
    for object storage, whose uploads are atomic anyway) are respected.
    """

    def __init__(self, *args, out_dir: Optional[str] = None, file_client_args: Optional[dict] = None,
                 backend_args: Optional[dict] = None, **kwargs) -> None:
        is_local = out_dir is None or '://' not in str(out_dir)
        if backend_args is None and file_client_args is None and is_local:
            backend_args = dict(backend='atomic_local')
        super().__init__(*args, out_dir=out_dir, file_client_args=file_client_args,
                         backend_args=backend_args, **kwargs)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and '://' not in str(self.out_dir):
            # Only our own temp-file pattern (see atomic_write) is removed, never a checkpoint.
            for tmp in glob.glob(osp.join(str(self.out_dir), '.*.tmp')):
                os.remove(tmp)
                runner.logger.info(f'Removed {tmp} left by an interrupted checkpoint write.')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # Same as mmengine 0.10.7's CheckpointHook._save_checkpoint_with_step except that
        # `last_checkpoint` is written atomically (the parent rewrites it in place with open('w')).
        if self.max_keep_ckpts > 0:
            if not (len(self.keep_ckpt_ids) > 0 and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    _step = self.keep_ckpt_ids.popleft()
                    if is_main_process():
                        ckpt_path = self.file_backend.join_path(self.out_dir,
                                                                self.filename_tmpl.format(_step))
                        if self.file_backend.isfile(ckpt_path):
                            self.file_backend.remove(ckpt_path)
                        elif self.file_backend.isdir(ckpt_path):
                            self.file_backend.rmtree(ckpt_path)
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if not is_main_process():
            return
        atomic_write(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
