"""Polygon annotation: each Polygon interaction is filled into the mask.

Polygons combine by the even-odd rule (each one toggles the pixels it covers), so an outline
followed by the outline of a hole cuts the hole out. The first polygon replaces any initial
mask: a person drawing polygons draws the object, not a correction of a prediction.

``polygon`` expects a user who traces the outline at some tolerance; ``oracle_polygon`` is the
full-supervision reference: the user gives the exact ground-truth contours (every boundary
pixel a vertex), the result is the ground-truth mask, priced per instance.
"""

from __future__ import annotations

import numpy as np

from al_loop.core.geometry import fill_polygon
from al_loop.core.interactions import Polygon


class PolygonMethod:
    """``polygon`` / ``oracle_polygon``: Polygon interactions -> even-odd filled mask."""

    def __init__(self, name: str = "polygon", interaction: str = "polygon"):
        self.name, self.interaction = name, interaction

    def start(self, image: np.ndarray, initial_mask: np.ndarray | None = None) -> PolygonSession:
        return PolygonSession(self.name, image.shape[:2], initial_mask)


def oracle_polygon() -> PolygonMethod:
    """The reference: exact ground-truth contours from the user (interaction ``polygon_exact``)."""
    return PolygonMethod(name="oracle_polygon", interaction="polygon_exact")


class PolygonSession:
    def __init__(self, method: str, shape: tuple[int, int], initial_mask: np.ndarray | None):
        self.method, self.shape = method, tuple(shape)
        self._drawn = np.zeros(self.shape, bool)
        self._mask = self._drawn if initial_mask is None else np.asarray(initial_mask, bool).copy()
        self.polygons: list[Polygon] = []

    @property
    def mask(self) -> np.ndarray:
        return self._mask.copy()

    def add(self, interaction: Polygon) -> np.ndarray:
        if not isinstance(interaction, Polygon):
            raise TypeError(
                f"{self.method}: expects Polygon interactions, got {type(interaction).__name__}"
            )
        if not interaction.vertices:
            raise ValueError(f"{self.method}: a polygon needs at least one vertex")
        self.polygons.append(interaction)
        self._drawn = self._drawn ^ fill_polygon(self.shape, interaction.vertices)
        self._mask = self._drawn
        return self.mask
