from .multiscale_bottomup import (MULTISCALE_META_KEYS, MultiScaleBottomupResize,
                                  PackMultiScalePoseInputs, multiscale_input_geometry)

__all__ = [
    'MULTISCALE_META_KEYS', 'MultiScaleBottomupResize', 'PackMultiScalePoseInputs',
    'multiscale_input_geometry'
]
