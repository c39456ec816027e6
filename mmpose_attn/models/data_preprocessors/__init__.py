from .multiscale_data_preprocessor import MultiScalePoseDataPreprocessor

__all__ = ['MultiScalePoseDataPreprocessor']
