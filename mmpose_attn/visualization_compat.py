"""mmpose 1.3.2's pose visualizer under numpy >= 2.3.

``PoseLocalVisualizer`` draws every keypoint with
``draw_circles(kpt, radius=np.array([self.radius]), ...)`` and the OpenCV backend calls
``int(radius)``. numpy 2.3 turned the conversion of a 1-element array to a Python scalar into a
``TypeError`` ("only 0-dimensional arrays can be converted to Python scalars"), so drawing any
keypoint above ``kpt_thr`` fails: in the demos, ``MMPoseInferencer`` and ``--show-dir``.

Importing :mod:`mmpose_attn` wraps ``OpencvBackendVisualizer.draw_circles`` so that it receives
plain scalars; the drawing itself is mmpose's. Nothing changes when numpy still converts such
arrays (numpy < 2.3).
"""
import numpy as np
from mmpose.visualization.opencv_backend_visualizer import OpencvBackendVisualizer


def _numpy_converts_size1_arrays() -> bool:
    try:
        int(np.array([1]))
    except TypeError:
        return False
    return True


def _scalar_args_draw_circles(draw_circles):

    def wrapper(self, center, radius, *args, **kwargs):
        if self.backend == 'opencv':
            # the OpenCV branch draws one circle: center (2,), radius a scalar
            center = np.asarray(center, dtype=np.float64).reshape(-1)[:2]
            radius = float(np.asarray(radius).reshape(-1)[0])
        return draw_circles(self, center, radius, *args, **kwargs)

    wrapper.__doc__ = draw_circles.__doc__
    wrapper._mmpose_attn_scalar_args = True  # patch once, even if imported twice
    return wrapper


if not _numpy_converts_size1_arrays() and not getattr(OpencvBackendVisualizer.draw_circles,
                                                      '_mmpose_attn_scalar_args', False):
    OpencvBackendVisualizer.draw_circles = _scalar_args_draw_circles(
        OpencvBackendVisualizer.draw_circles)
