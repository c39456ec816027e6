"""xtcocotools' mask decoding under numpy >= 2.3: the numpy name its compiled code looks up.

Upstream problem: xtcocotools 1.14.3 (the latest release, built from source by tools/install.sh
because its wheels break on numpy 2) marks each decoded mask as owning its buffer with
``np.NPY_OWNDATA``. numpy 2.3 dropped that name from its Cython declarations, so an extension
compiled against it looks the name up on the Python module at run time and
``xtcocotools.mask.decode`` fails with "module 'numpy' has no attribute 'NPY_OWNDATA'". mmpose's
``BottomupGetHeatmapMask`` decodes the segmentation of every annotated person, so bottom-up training
(DEKR, SAMKR) on real COCO or CrowdPose data stops at its first batch; top-down training and the
COCO evaluation do not decode masks. The same breakage in another COCO-mask library:
https://github.com/isarandi/rlemasklib/issues/11. Unfixed as of xtcocotools 1.14.3.

Applies to: xtcocotools <= 1.14.3 built against numpy >= 2.3.

Guard: :func:`needs_owndata_name` probes the installed xtcocotools on a 2x2 mask. The failing
lookup happens inside the compiled extension, so there is no registry or hook to go through: the
fix gives the numpy module the name back, with its C value (``NPY_ARRAY_OWNDATA`` = 0x0004 in
numpy's ``ndarraytypes.h``, unchanged since numpy 1.7). It only adds a name numpy lacks; where the
name exists or xtcocotools decodes without it, nothing is done.
"""
import numpy as np

#: numpy's C flag NPY_ARRAY_OWNDATA ("the array owns its data buffer")
NPY_ARRAY_OWNDATA = 0x0004


def needs_owndata_name() -> bool:
    """Whether ``xtcocotools.mask.decode`` fails for want of ``numpy.NPY_OWNDATA``."""
    if hasattr(np, 'NPY_OWNDATA'):
        return False
    try:
        from xtcocotools import mask as coco_mask
    except ImportError:
        return False
    rle = coco_mask.frPyObjects([[0., 0., 1., 0., 1., 1.]], 2, 2)
    try:
        coco_mask.decode(rle)
    except AttributeError as error:
        if 'NPY_OWNDATA' in str(error):
            return True
        raise
    return False


OWNDATA_NAME_NEEDED = needs_owndata_name()
if OWNDATA_NAME_NEEDED:
    np.NPY_OWNDATA = NPY_ARRAY_OWNDATA
