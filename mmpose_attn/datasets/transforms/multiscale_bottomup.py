"""Bottom-up test-time inputs at several scales, each with the geometry that maps it back.

mmpose 1.3.2's :class:`BottomupResize` with ``aug_scales`` resizes the image to every scale but
keeps the warp (``input_center``/``input_scale``/``input_size``) of scale 1 only, and
:class:`PackPoseInputs` stacks the images (which fails for different sizes) and drops
``aug_scales``. Multi-scale decoding needs both: the images as a list, and each scale's warp to
bring its keypoints and heatmaps onto the scale-1 input.
"""
import inspect
from typing import Dict, Optional, Sequence

from mmpose.datasets.transforms import BottomupResize, PackPoseInputs
from mmpose.datasets.transforms.formatting import image_to_tensor
from mmpose.registry import TRANSFORMS

from ...structures.multiscale import MULTISCALE_META_KEYS


@TRANSFORMS.register_module()
class MultiScaleBottomupResize(BottomupResize):
    """:class:`BottomupResize` that also records the warp of every extra scale.

    Without ``aug_scales`` (``None``) it is :class:`BottomupResize`. With a list (``[]`` included:
    multi-scale machinery, scale 1 only) ``results['img']`` is the list of images at scales
    ``[1] + aug_scales``; ``input_size``/``input_center``/``input_scale`` are scale 1's, and
    ``aug_input_size``/``aug_input_center``/``aug_input_scale`` list those of the extra scales. Each
    image is made by :class:`BottomupResize` itself at ``input_size`` x scale.

    Args: as :class:`BottomupResize`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.aug_scales is not None:
            if any(not isinstance(s, (int, float)) or s <= 0 for s in self.aug_scales):
                raise ValueError(f'MultiScaleBottomupResize: aug_scales must be positive numbers, '
                                 f'got {self.aug_scales!r}')
            self.aug_scales = [float(s) for s in self.aug_scales]
            # one single-scale BottomupResize per scale, sized as BottomupResize sizes its extra
            # scales: (int(w * s), int(h * s))
            w, h = self.input_size
            self._resizes = [
                BottomupResize(
                    input_size=(int(w * s), int(h * s)),
                    size_factor=self.size_factor,
                    resize_mode=self.resize_mode,
                    pad_val=self.pad_val,
                    use_udp=self.use_udp) for s in [1.0] + self.aug_scales
            ]

    def transform(self, results: Dict) -> Optional[dict]:
        if self.aug_scales is None:
            return super().transform(results)
        main, *extra = [resize.transform(dict(results)) for resize in self._resizes]
        main['img'] = [main['img']] + [r['img'] for r in extra]
        main['aug_scales'] = list(self.aug_scales)
        main['aug_input_size'] = [r['input_size'] for r in extra]
        main['aug_input_center'] = [r['input_center'] for r in extra]
        main['aug_input_scale'] = [r['input_scale'] for r in extra]
        results.update(main)
        return results


@TRANSFORMS.register_module()
class PackMultiScalePoseInputs(PackPoseInputs):
    """:class:`PackPoseInputs` that packs a list of images (one per scale) as a list of tensors.

    For a single image it is :class:`PackPoseInputs`. The metainfo keys of
    :data:`MULTISCALE_META_KEYS` are always added to ``meta_keys`` (they are present only when
    :class:`MultiScaleBottomupResize` ran with ``aug_scales``).

    Args: as :class:`PackPoseInputs`.
    """

    def __init__(self, *args, meta_keys: Optional[Sequence[str]] = None, **kwargs) -> None:
        if meta_keys is None:
            meta_keys = inspect.signature(PackPoseInputs).parameters['meta_keys'].default
        meta_keys = tuple(meta_keys) + tuple(k for k in MULTISCALE_META_KEYS if k not in meta_keys)
        super().__init__(*args, meta_keys=meta_keys, **kwargs)

    def transform(self, results: dict) -> dict:
        imgs = results.get('img')
        if not isinstance(imgs, list):
            return super().transform(results)
        packed = super().transform({**results, 'img': imgs[0]})
        packed['inputs'] = [image_to_tensor(img) for img in imgs]
        return packed
