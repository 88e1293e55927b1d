"""The Euclidean distance transform, with the same bits on every call.

OpenCV's exact transform (``DIST_MASK_PRECISE``) can return a distance one float ulp apart
from one call to the next on the same mask (measured: 7.6157732 or 7.6157737 for sqrt(58),
depending on where its buffers fall in memory). The NoC clicker breaks ties between equally
far pixels by raster order, so that ulp moved clicks and made simulated runs differ from one
process to the next. Squared distances between pixel centres are integers: rounding OpenCV's
squares and taking numpy's correctly rounded square root restores them exactly.
"""

from __future__ import annotations

import cv2
import numpy as np


def distance_to_zero(mask: np.ndarray) -> np.ndarray:
    """float32 [H,W]: each non-zero pixel's Euclidean distance to the nearest zero pixel (0 on
    zero pixels); exact, and bitwise the same on every call, for distances below 1000 pixels
    (beyond, float32's rounding of OpenCV's result can exceed half an integer when squared)."""
    dist = cv2.distanceTransform(
        np.asarray(mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
    )
    return np.sqrt(np.rint(np.square(dist, dtype=np.float64))).astype(np.float32)
