"""Hook that checks data against the model before the first iteration."""
from typing import Iterator, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.registry import HOOKS

from ...datasets.validate import (DatasetValidationError, num_keypoints_of_head,
                                  validate_coco_annotations)
from ...datasets.validated_mixin import ValidatedCocoStyleMixin


def _leaf_datasets(dataset) -> Iterator:
    """The datasets inside mmengine/mmpose dataset wrappers (Concat, Repeat, ClassBalanced, Combined)."""
    children = getattr(dataset, 'datasets', None)
    if children is None and hasattr(dataset, 'dataset'):
        children = [dataset.dataset]
    if children is None:
        yield dataset
    else:
        for child in children:
            yield from _leaf_datasets(child)


@HOOKS.register_module()
class ValidateDataHook(Hook):
    """Fail before the first iteration when the data cannot work with the model.

    At ``before_run`` (dataloaders and model are built, nothing has run yet) for every built
    train/val/test dataloader:

    * the dataset's keypoint count (``metainfo['num_keypoints']``) must equal the head's K
      (``num_keypoints``/``out_channels``); otherwise the run would die in the loss with a tensor
      size mismatch, or silently evaluate the wrong joints;
    * stock COCO-style datasets (``CocoDataset``, ``CrowdPoseDataset``, ...) get the annotation and
      image checks of :func:`~mmpose_attn.datasets.validate_coco_annotations`
      (``ValidatedCocoDataset`` already ran them while loading).

    Add it to a config with ``custom_hooks = [dict(type='ValidateDataHook')]``.

    Args:
        check_images: passed to :func:`validate_coco_annotations` for stock datasets: ``'header'``,
            ``'decode'`` or ``'none'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_images: str = 'header') -> None:
        self.check_images = check_images

    @staticmethod
    def _built_datasets(runner) -> Iterator[Tuple[str, object]]:
        # Private attributes on purpose: the public properties would build (and load) a loop
        # that this run does not use, e.g. the train set during `mim test`.
        for name in ('train', 'val', 'test'):
            loop = getattr(runner, f'_{name}_loop', None)
            if isinstance(loop, BaseLoop):
                for ds in _leaf_datasets(loop.dataloader.dataset):
                    yield f'{name}_dataloader.dataset', ds

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'head', None)
        model_k = num_keypoints_of_head(head) if head is not None else None
        for field, ds in self._built_datasets(runner):
            ds_k = getattr(ds, 'metainfo', {}).get('num_keypoints')
            ann_file = getattr(ds, 'ann_file', '?')
            if model_k is not None and ds_k is not None and model_k != ds_k:
                attr = 'num_keypoints' if hasattr(head, 'num_keypoints') else 'out_channels'
                raise DatasetValidationError(
                    f'{ann_file}: {field}: the dataset ({type(ds).__name__}, metainfo '
                    f'{ds.metainfo.get("dataset_name")}) has {ds_k} keypoints but '
                    f'model.head.{attr}={model_k}.\n  Fix: set model.head.{attr}={ds_k} (and the '
                    f'codec/flip settings of that dataset), or use the dataset whose keypoints the '
                    f'model was built for.')
            if (isinstance(ds, BaseCocoStyleDataset) and not isinstance(ds, ValidatedCocoStyleMixin)
                    and ann_file):  # test-mode datasets may run from a bbox_file alone
                validate_coco_annotations(
                    ann_file, img_dir=ds.data_prefix.get('img'), num_keypoints=ds_k,
                    check_images=self.check_images)
