"""mmpose's pose visualizer under numpy >= 2.3: a registered visualizer that draws with scalars.

Upstream problem: mmpose 1.3.2's ``PoseLocalVisualizer`` draws every keypoint with
``draw_circles(kpt, radius=np.array([self.radius]), ...)`` and its OpenCV backend
(``OpencvBackendVisualizer.draw_circles``) calls ``int(radius)``. numpy 2.3 turned the conversion
of a 1-element array to a Python scalar into a ``TypeError`` ("only 0-dimensional arrays can be
converted to Python scalars"), so drawing any keypoint above ``kpt_thr`` fails: in the demos,
``MMPoseInferencer`` and ``--show-dir``. No upstream report or fix was found in open-mmlab/mmpose:
unfixed as of mmpose 1.3.2 (``local_visualizer.py`` still passes ``np.array([radius])``).

Applies to: mmpose 1.3.x with numpy >= 2.3.

Guard: :func:`needs_scalar_circles` on the installed numpy version. The plugin's base config
(``configs/_base_/plugin.py``) selects :class:`ScalarCirclesPoseLocalVisualizer`; it is mmpose's
visualizer, whose ``draw_circles`` hands the OpenCV backend a scalar radius and a ``(2,)`` centre
only where numpy needs it, so under numpy < 2.3 it is byte for byte mmpose's drawing. Stock mmpose
configs keep ``PoseLocalVisualizer``; :func:`scalar_circles_visualizer_cfg` swaps it in for the
plugin's inferencer.
"""
from typing import Optional

import numpy as np
from mmengine.utils import digit_version
from mmpose.registry import VISUALIZERS
from mmpose.visualization import PoseLocalVisualizer

FIRST_BREAKING_NUMPY = '2.3.0'  # the first numpy that refuses int(np.array([r]))


def needs_scalar_circles(numpy_version: str = np.__version__) -> bool:
    """Whether this numpy refuses mmpose's ``int(np.array([radius]))`` (numpy >= 2.3)."""
    return digit_version(numpy_version) >= digit_version(FIRST_BREAKING_NUMPY)


SCALAR_CIRCLES_NEEDED = needs_scalar_circles()


@VISUALIZERS.register_module()
class ScalarCirclesPoseLocalVisualizer(PoseLocalVisualizer):
    """:class:`mmpose.visualization.PoseLocalVisualizer` that draws keypoints under numpy >= 2.3.

    All arguments, drawing and outputs are those of
    :class:`~mmpose.visualization.PoseLocalVisualizer`. Only :meth:`draw_circles` differs, and only
    where :func:`needs_scalar_circles` holds: the OpenCV backend draws one circle per call, so the
    ``(1,)`` radius array mmpose passes becomes a float and the centre a ``(2,)`` array before
    mmpose's code runs.

    Use it in a config as::

        visualizer = dict(type='ScalarCirclesPoseLocalVisualizer')  # merged with mmpose's dict
    """

    def draw_circles(self, center, radius, *args, **kwargs):
        if SCALAR_CIRCLES_NEEDED and self.backend == 'opencv':
            center = np.asarray(center, dtype=np.float64).reshape(-1)[:2]
            radius = float(np.asarray(radius).reshape(-1)[0])
        return super().draw_circles(center, radius, *args, **kwargs)


def scalar_circles_visualizer_cfg(visualizer_cfg: Optional[dict]) -> Optional[dict]:
    """``visualizer_cfg`` with mmpose's stock ``PoseLocalVisualizer`` replaced by ours, if needed.

    For stock mmpose configs built by the plugin's inferencer: they keep mmpose's type, which cannot
    draw under numpy >= 2.3. Any other type, and every config under older numpy, is returned as is.
    """
    if (SCALAR_CIRCLES_NEEDED and visualizer_cfg is not None
            and visualizer_cfg.get('type') == 'PoseLocalVisualizer'):
        visualizer_cfg = dict(visualizer_cfg, type='ScalarCirclesPoseLocalVisualizer')
    return visualizer_cfg
