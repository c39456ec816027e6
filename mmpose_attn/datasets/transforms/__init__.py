from ...structures.multiscale import MULTISCALE_META_KEYS, multiscale_input_geometry
from .multiscale_bottomup import MultiScaleBottomupResize, PackMultiScalePoseInputs

__all__ = [
    'MULTISCALE_META_KEYS', 'MultiScaleBottomupResize', 'PackMultiScalePoseInputs',
    'multiscale_input_geometry'
]
