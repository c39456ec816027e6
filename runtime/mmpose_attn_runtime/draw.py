"""Drawing poses on an image with OpenCV."""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np


def draw(image: np.ndarray,
         keypoints: np.ndarray,
         scores: np.ndarray,
         skeleton: Sequence[Tuple[int, int]] = (),
         kpt_thr: float = 0.3,
         radius: int = 3,
         thickness: int = 1,
         boxes: Optional[np.ndarray] = None) -> np.ndarray:
    """A copy of ``image`` with each person's keypoints above ``kpt_thr`` and the skeleton links
    between two such keypoints drawn (a colour per person), and the boxes when given.

    Shapes:
        image (H, W, 3) BGR, keypoints (N, K, 2), scores (N, K), boxes (N, 4+) xyxy.
    """
    out = image.copy()
    for n, (kpts, kscores) in enumerate(zip(keypoints, scores)):
        hue = int(n * 47 % 180)
        color = tuple(
            int(c) for c in cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0])
        if boxes is not None and n < len(boxes):
            x1, y1, x2, y2 = (int(round(float(v))) for v in boxes[n][:4])
            cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        visible = kscores > kpt_thr
        for i, j in skeleton:
            if i < len(kpts) and j < len(kpts) and visible[i] and visible[j]:
                p, q = kpts[i], kpts[j]
                cv2.line(out, (int(round(p[0])), int(round(p[1]))),
                         (int(round(q[0])), int(round(q[1]))), color, thickness, cv2.LINE_AA)
        for (x, y), v in zip(kpts, visible):
            if v:
                cv2.circle(out, (int(round(x)), int(round(y))), radius, color, -1, cv2.LINE_AA)
    return out
