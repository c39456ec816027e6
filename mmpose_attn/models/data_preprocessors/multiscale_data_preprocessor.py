"""Data preprocessor for bottom-up test inputs at several scales."""
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.registry import MODELS


@MODELS.register_module()
class MultiScalePoseDataPreprocessor(PoseDataPreprocessor):
    """:class:`PoseDataPreprocessor` that also takes one list of images per sample.

    :class:`~mmpose_attn.datasets.transforms.PackMultiScalePoseInputs` packs a sample as a list of
    (C, H_s, W_s) tensors, scales ``[1] + aug_scales``; mmpose's preprocessor accepts only one
    tensor per sample. Each scale is normalised, padded and stacked by :class:`PoseDataPreprocessor`
    on its own, giving the image pyramid that :class:`BottomupPoseEstimator` expects with
    ``test_cfg.multiscale_test``. Single-image inputs are passed to :class:`PoseDataPreprocessor`
    unchanged.

    Args: as :class:`PoseDataPreprocessor`.

    Shapes:
        inputs: as collated by mmengine's ``pseudo_collate`` from samples of S tensors
        (C, H_s, W_s), a list of S sequences of B tensors -> a list of S tensors (B, C, H_s', W_s')
        (each padded to the largest image of its scale).
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if not (isinstance(inputs,
                           (list, tuple)) and inputs and isinstance(inputs[0], (list, tuple))):
            return super().forward(data, training)
        if len({len(scale) for scale in inputs}) != 1:
            raise ValueError(f'{type(self).__name__}: every sample of a batch must have the same '
                             f'number of scales, got per-scale batch sizes '
                             f'{[len(scale) for scale in inputs]}')
        pyramid = [None] * len(inputs)
        # scale 1 last: PoseDataPreprocessor writes batch_input_shape / pad_shape into the data
        # samples, and those must describe the scale-1 input that the keypoints are mapped from
        for s in list(range(1, len(inputs))) + [0]:
            out = super().forward(
                dict(inputs=list(inputs[s]), data_samples=data.get('data_samples')), training)
            pyramid[s] = out['inputs']
        return dict(inputs=pyramid, data_samples=out['data_samples'])
