"""The metainfo of a multi-scale bottom-up sample: the warp of every extra scale.

Written by :class:`~mmpose_attn.datasets.transforms.MultiScaleBottomupResize`, read by the
multi-scale heads; a structure of its own so that models import nothing from datasets.
"""
from typing import List

#: metainfo keys written by :class:`MultiScaleBottomupResize` (one entry per extra scale)
MULTISCALE_META_KEYS = ('aug_scales', 'aug_input_size', 'aug_input_center', 'aug_input_scale')


def multiscale_input_geometry(metainfo: dict) -> List[tuple]:
    """``[(input_size, input_center, input_scale)]`` of one sample, scales ``[1] + aug_scales``."""
    missing = [k for k in MULTISCALE_META_KEYS if k not in metainfo]
    if missing:
        raise ValueError(
            f'multi-scale testing needs the metainfo {missing} of every extra scale: use '
            f"dict(type='MultiScaleBottomupResize', aug_scales=[...]) and "
            f"dict(type='PackMultiScalePoseInputs') in the test pipeline instead of mmpose's "
            f'BottomupResize / PackPoseInputs')
    first = [(metainfo['input_size'], metainfo['input_center'], metainfo['input_scale'])]
    return first + list(
        zip(metainfo['aug_input_size'], metainfo['aug_input_center'], metainfo['aug_input_scale']))
