"""Hook that checks data against the model and the evaluators before the first iteration."""
from typing import Iterator, List, Tuple

from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.evaluation.metrics import CocoMetric
from mmpose.registry import HOOKS

from ...datasets.validate import (DatasetValidationError, check_coco_metric_fields,
                                  evaluation_fields_summary, num_keypoints_of_head,
                                  validate_coco_annotations)
from ...datasets.validated_mixin import ValidatedCocoStyleMixin


def _leaf_datasets(dataset) -> Iterator:
    """The datasets inside mmengine/mmpose wrappers (Concat, Repeat, ClassBalanced, Combined)."""
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
    """Fail before the first iteration when the data cannot work with the model or the evaluator.

    At ``before_run``, which mmengine calls in ``Runner.train`` (after the train and val loops are
    built), ``Runner.val`` and ``Runner.test`` (``mim test``) before any iteration, for every built
    train/val/test loop:

    * the dataset's keypoint count (``metainfo['num_keypoints']``) must equal the head's K
      (``num_keypoints``/``out_channels``); otherwise the run would die in the loss with a tensor
      size mismatch, or silently evaluate the wrong joints;
    * stock COCO-style datasets (``CocoDataset``, ``CrowdPoseDataset``, ...) get the annotation and
      image checks of :func:`~mmpose_attn.datasets.validate_coco_annotations`
      (``ValidatedCocoDataset``/``ValidatedCrowdPoseDataset`` ran them before mmpose parsed the
      file);
    * every ``CocoMetric`` (and subclass) of the val/test evaluator finds the fields it will read in
      the file it evaluates against (its ``ann_file``, or the dataset's file when it has none):
      ``iscrowd``; ``area`` with ``use_area=True``; ``num_keypoints`` and images' ``crowdIndex``
      with ``iou_type='keypoints_crowd'``. Without them xtcocotools stops with a ``KeyError`` after
      the whole inference pass.

    Add it to a config with ``custom_hooks = [dict(type='ValidateDataHook')]`` (the plugin's
    ``configs/_base_/default_runtime.py`` does).

    Args:
        check_images: passed to :func:`validate_coco_annotations` for stock datasets: ``'header'``,
            ``'decode'`` or ``'none'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_images: str = 'header') -> None:
        self.check_images = check_images

    @staticmethod
    def _built_loops(runner) -> Iterator[Tuple[str, BaseLoop]]:
        # Private attributes on purpose: the public properties would build (and load) a loop
        # that this run does not use, e.g. the train set during `mim test`.
        """``(name, loop)`` of the loops this run has built (train, val, test)."""
        for name in ('train', 'val', 'test'):
            loop = getattr(runner, f'_{name}_loop', None)
            if isinstance(loop, BaseLoop):
                yield name, loop

    def _check_dataset(self, ds, field: str, head, model_k) -> dict:
        """Keypoint count against the model, then the file checks; returns the file summary."""
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
        if isinstance(ds, ValidatedCocoStyleMixin):
            return getattr(ds, 'validation_summary', None) or {}
        if isinstance(ds, BaseCocoStyleDataset) and ann_file:
            # stock mmpose dataset: it parsed the file already, so this catches what it let through
            return validate_coco_annotations(
                ann_file,
                img_dir=ds.data_prefix.get('img'),
                num_keypoints=ds_k,
                check_images=self.check_images,
                require_annotations=not ds.bbox_file)
        return {}

    @staticmethod
    def _check_metrics(name: str, loop: BaseLoop, datasets: List[Tuple[object, dict]]) -> None:
        """Check that each COCO metric's annotations have the fields it evaluates."""
        evaluator = getattr(loop, 'evaluator', None)
        for metric in getattr(evaluator, 'metrics', []):
            if not isinstance(metric, CocoMetric) or metric.format_only:
                continue
            where = f'{name}_evaluator ({type(metric).__name__})'
            if metric.coco is not None:
                # its ann_file, or the one mmpose's test-mode dataset handed it via the MessageHub
                ann_file = metric.ann_file or MessageHub.get_current_instance().get_info(
                    f'{(metric.dataset_meta or {}).get("dataset_name")}_ann_file', '(ann_file)')
                check_coco_metric_fields(
                    evaluation_fields_summary(metric.coco.dataset), ann_file, where,
                    metric.use_area, metric.iou_type)
            else:  # evaluates against the dataset's own annotations
                for ds, summary in datasets:
                    if summary:
                        check_coco_metric_fields(summary, ds.ann_file, where, metric.use_area,
                                                 metric.iou_type)

    def before_run(self, runner) -> None:
        """Check every built loop's datasets against the model, then their metrics."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'head', None)
        model_k = num_keypoints_of_head(head) if head is not None else None
        for name, loop in self._built_loops(runner):
            datasets = [(ds, self._check_dataset(ds, f'{name}_dataloader.dataset', head, model_k))
                        for ds in _leaf_datasets(loop.dataloader.dataset)]
            if name != 'train':
                self._check_metrics(name, loop, datasets)
