"""Mask geometry shared by the simulated users and the interactive methods.

Pure functions of bool / IGNORE-encoded masks: ground-truth encoding, the distance of error
pixels to their region's boundary (where a NoC click goes), extreme points, bounding box and
interior point of an object, polygon fill, and a box widened into a crop. Users
(``simulators/``) and methods (``al_loop/interactive/``) both import this module and never each
other, so the clicks a model is trained on are the clicks a simulated person gives.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from al_loop.core.distance import distance_to_zero
from al_loop.data.base import IGNORE


def encode_gt(gt: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray:
    """uint8 ground truth for a simulated user: 1 object, 0 background, IGNORE where ``ignore``."""
    encoded = np.asarray(gt, dtype=bool).astype(np.uint8)
    if ignore is not None:
        encoded[np.asarray(ignore, dtype=bool)] = IGNORE
    return encoded


def split_gt(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(object bool, ignore bool) from ``bool`` or IGNORE-encoded ``uint8`` ground truth."""
    gt = np.asarray(gt)
    if gt.dtype == bool:
        return gt, np.zeros(gt.shape, dtype=bool)
    ignore = gt == IGNORE
    return (gt != 0) & ~ignore, ignore


def error_distance(error: np.ndarray) -> np.ndarray:
    """Euclidean distance of each error pixel to the nearest non-error pixel or the image border.

    Padding with a zero frame makes the border count as a boundary, as in RITM.
    """
    padded = np.pad(error.astype(np.uint8), 1)
    return distance_to_zero(padded)[1:-1, 1:-1]


def object_of(gt: np.ndarray) -> np.ndarray:
    """The object's bool mask, or ValueError when there is none."""
    obj, _ = split_gt(gt)
    if not obj.any():
        raise ValueError("the ground truth holds no object pixel")
    return obj


def extreme_points(obj: np.ndarray) -> tuple[tuple[int, int], ...]:
    """(top, bottom, left, right) (y, x) of the object; among ties, the median one (as a person
    clicks the middle of a flat edge)."""
    ys, xs = np.nonzero(object_of(obj))

    def middle(sel: np.ndarray) -> tuple[int, int]:
        order = np.lexsort((xs[sel], ys[sel]))
        k = order[(len(order) - 1) // 2]
        return int(ys[sel][k]), int(xs[sel][k])

    return (
        middle(ys == ys.min()),
        middle(ys == ys.max()),
        middle(xs == xs.min()),
        middle(xs == xs.max()),
    )


def bounding_box(obj: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1), end exclusive, of the object."""
    ys, xs = np.nonzero(object_of(obj))
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def interior_point(obj: np.ndarray) -> tuple[int, int]:
    """The object pixel farthest from its boundary (first in raster order among ties)."""
    dist = error_distance(object_of(obj))
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(y), int(x)


def largest_part_interior_point(region: np.ndarray) -> tuple[int, int]:
    """(y, x) of the pixel of ``region``'s largest component farthest from its border."""
    components, count = ndimage.label(region)
    if count > 1:
        sizes = np.bincount(components.ravel())[1:]
        region = components == (int(np.argmax(sizes)) + 1)
    distance = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), region.shape)
    return int(y), int(x)


def fill_polygon(shape: tuple[int, int], vertices) -> np.ndarray:
    """bool mask of a closed polygon given as (y, x) vertices, boundary pixels included."""
    filled = np.zeros(shape, np.uint8)
    points = np.asarray(vertices, dtype=np.int32).reshape(-1, 2)[:, ::-1]  # (y, x) -> (x, y)
    cv2.fillPoly(filled, [points.reshape(-1, 1, 2)], 1)
    return filled.astype(bool)


def expand_box(
    box: tuple[int, int, int, int], margin: int, hw: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``box`` (y0, x0, y1, x1) widened by ``margin`` on every side, clipped to the image:
    the crop a method is shown for a unit."""
    y0, x0, y1, x1 = box
    return (
        max(0, y0 - margin),
        max(0, x0 - margin),
        min(hw[0], y1 + margin),
        min(hw[1], x1 + margin),
    )
