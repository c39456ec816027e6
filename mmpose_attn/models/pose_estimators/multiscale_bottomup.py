"""Bottom-up pose estimator whose multi-scale test receives its image pyramid."""
from typing import List, Union

from mmpose.models.pose_estimators import BottomupPoseEstimator
from mmpose.registry import MODELS
from mmpose.utils.typing import SampleList
from torch import Tensor


@MODELS.register_module()
class MultiScaleBottomupPoseEstimator(BottomupPoseEstimator):
    """:class:`BottomupPoseEstimator` that can run ``test_cfg.multiscale_test``.

    mmpose 1.3.2's ``BasePoseEstimator.forward`` stacks a list of inputs into one tensor, so the
    image pyramid that :meth:`BottomupPoseEstimator.predict` expects for a multi-scale test (one
    tensor per scale, of different sizes) never reaches it. Here a multi-scale ``predict`` gets the
    list as it is and a missing pyramid is reported with its fix; everything else is
    :class:`BottomupPoseEstimator`. The head must decode multi-scale outputs
    (:class:`~mmpose_attn.models.heads.BatchDEKRHead` and its subclasses do).

    Args: as :class:`BottomupPoseEstimator`.

    Shapes:
        inputs: (B, C, H, W), or with ``multiscale_test`` a list of S tensors (B, C, H_s, W_s) for
        scales ``[1] + aug_scales``.
    """

    def forward(self,
                inputs: Union[Tensor, List[Tensor]],
                data_samples: SampleList,
                mode: str = 'tensor'):
        if mode != 'predict' or not self.test_cfg.get('multiscale_test', False):
            return super().forward(inputs, data_samples, mode)
        if not isinstance(inputs, list):
            raise ValueError(
                'test_cfg.multiscale_test=True needs one input per scale: the test pipeline must '
                "resize with dict(type='MultiScaleBottomupResize', aug_scales=[...]) (scale 1 is "
                "always run; aug_scales=[] runs it alone) and pack with "
                "dict(type='PackMultiScalePoseInputs'), and the model's data_preprocessor must be "
                "dict(type='MultiScalePoseDataPreprocessor')")
        if self.metainfo is not None:  # as BasePoseEstimator.forward
            for data_sample in data_samples:
                data_sample.set_metainfo(self.metainfo)
        return self.predict(inputs, data_samples)
