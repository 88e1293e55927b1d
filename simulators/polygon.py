"""A simulated polygon annotator: traces the ground-truth outlines, holes included.

The contours are listed level by level: the outer outlines of the object's components, then the
outlines of their holes, then of islands inside the holes, and so on. Filled by the even-odd rule
(``al_loop.interactive.polygon``), the exact contours (tolerance 0) give the ground truth back
pixel for pixel. A positive tolerance simplifies each contour with Douglas-Peucker
(``cv2.approxPolyDP``), like a person placing fewer vertices.
"""

from __future__ import annotations

import cv2
import numpy as np

from al_loop.core.geometry import fill_polygon, split_gt
from al_loop.core.interactions import Polygon


def outer_contours(region: np.ndarray) -> list[np.ndarray]:
    """Outer boundaries (every boundary pixel, (x, y) int32) of the 8-connected components,
    largest first, ties in raster order of their first pixel."""
    contours, _ = cv2.findContours(
        region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    keyed = [
        (-cv2.contourArea(c), int(c[:, 0, 1].min()), int(c[:, 0, 0].min()), i)
        for i, c in enumerate(contours)
    ]
    return [contours[k[-1]] for k in sorted(keyed)]


def even_odd_contours(obj: np.ndarray) -> list[np.ndarray]:
    """Contours whose even-odd fill is ``obj``: outlines, then hole outlines, then islands..."""
    result: list[np.ndarray] = []
    level = obj.astype(bool)
    while level.any():
        contours = outer_contours(level)
        filled = np.zeros(level.shape, bool)
        for c in contours:
            filled |= fill_polygon(level.shape, c[:, 0, ::-1])
        result.extend(contours)
        level = filled & ~level  # what the fill covered too much: the next level's regions
    return result


def to_polygon(contour: np.ndarray, tolerance: float) -> Polygon:
    if tolerance > 0:
        contour = cv2.approxPolyDP(contour, tolerance, True)
    return Polygon(tuple((int(p[1]), int(p[0])) for p in contour[:, 0]))


class PolygonUser:
    """Gives one Polygon per call until every contour of the ground truth is drawn, then None.

    It draws the whole outline whatever the current mask: the annotation loop neither stops it at
    a target IoU nor caps it (``stops_at_target = False``). ``min_area``: contours enclosing
    fewer pixels are skipped (tiny holes a person would not trace). Deterministic; no noise.
    """

    name = "polygon_user"
    stops_at_target = False

    def __init__(self, tolerance: float = 1.0, min_area: float = 0.0, seed: int = 0):
        if tolerance < 0 or min_area < 0:
            raise ValueError("tolerance and min_area must be >= 0")
        self.tolerance, self.min_area = tolerance, min_area
        self.given = 0

    def polygons(self, gt: np.ndarray) -> list[Polygon]:
        obj, _ = split_gt(gt)
        contours = [
            c
            for c in even_odd_contours(obj)
            if self.min_area <= 0 or cv2.contourArea(c) >= self.min_area
        ]
        return [to_polygon(c, self.tolerance) for c in contours]

    def next_interaction(self, gt: np.ndarray, current: np.ndarray) -> Polygon | None:
        polygons = self.polygons(gt)
        if self.given >= len(polygons):
            return None
        self.given += 1
        return polygons[self.given - 1]

    def get_state(self) -> dict:
        return {"given": self.given}

    def set_state(self, state: dict) -> None:
        self.given = int(state["given"])


def oracle_polygon_user(seed: int = 0) -> PolygonUser:
    """The exact-contour user for ``oracle_polygon``."""
    return PolygonUser(tolerance=0.0, seed=seed)
