"""Data structures shared by datasets and models."""
from .multiscale import MULTISCALE_META_KEYS, multiscale_input_geometry

__all__ = ['MULTISCALE_META_KEYS', 'multiscale_input_geometry']
