"""Units: what a user annotates in one go (a whole image, a grid cell, a superpixel).

A unit is plain data, ``Unit(image, region)``; its geometry lives in a ``UnitSpace`` so that
strategies reduce pixel scores to units through ``pixel_unit_index`` without knowing the kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import ndimage

from al_loop.core.errors import ConfigError


@dataclass(frozen=True, order=True)
class Unit:
    image: int  # index into the pool (train split)
    region: int  # region index inside the image; 0 for whole-image units

    @property
    def key(self) -> str:
        return f"{self.image}:{self.region}"

    @staticmethod
    def from_key(key: str) -> Unit:
        image, region = key.split(":")
        return Unit(int(image), int(region))


Box = tuple[int, int, int, int]  # y0, x0, y1, x1 (exclusive ends), working resolution


class UnitSpace(Protocol):
    kind: str
    num_images: int
    hw: tuple[int, int]

    def units(self) -> list[Unit]: ...
    def box(self, unit: Unit) -> Box: ...
    def mask(self, unit: Unit) -> np.ndarray:
        """bool [y1-y0, x1-x0]: which pixels of ``box(unit)`` belong to the unit."""
        ...

    def pixel_unit_index(self, images: np.ndarray) -> np.ndarray:
        """int64 [len(images), H, W]: for each pixel, the index of its unit in ``units()``."""
        ...


class ImageUnits:
    kind = "image"

    def __init__(self, num_images: int, hw: tuple[int, int]):
        self.num_images, self.hw = num_images, hw

    def units(self) -> list[Unit]:
        return [Unit(i, 0) for i in range(self.num_images)]

    def box(self, unit: Unit) -> Box:
        return (0, 0, self.hw[0], self.hw[1])

    def mask(self, unit: Unit) -> np.ndarray:
        return np.ones(self.hw, dtype=bool)

    def pixel_unit_index(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.int64)
        return np.broadcast_to(images[:, None, None], (len(images), *self.hw)).copy()


class GridUnits:
    """Fixed square cells (RALis-style regions); border cells may be smaller."""

    kind = "grid"

    def __init__(self, num_images: int, hw: tuple[int, int], cell: int = 32):
        if cell <= 0:
            raise ConfigError(f"units.cell: must be a positive number of pixels, got {cell}")
        self.num_images, self.hw, self.cell = num_images, hw, cell
        self.rows = math.ceil(hw[0] / cell)
        self.cols = math.ceil(hw[1] / cell)

    @property
    def per_image(self) -> int:
        return self.rows * self.cols

    def units(self) -> list[Unit]:
        return [Unit(i, r) for i in range(self.num_images) for r in range(self.per_image)]

    def box(self, unit: Unit) -> Box:
        row, col = divmod(unit.region, self.cols)
        y0, x0 = row * self.cell, col * self.cell
        return (y0, x0, min(y0 + self.cell, self.hw[0]), min(x0 + self.cell, self.hw[1]))

    def mask(self, unit: Unit) -> np.ndarray:
        y0, x0, y1, x1 = self.box(unit)
        return np.ones((y1 - y0, x1 - x0), dtype=bool)

    def pixel_unit_index(self, images: np.ndarray) -> np.ndarray:
        h, w = self.hw
        rows = np.arange(h) // self.cell
        cols = np.arange(w) // self.cell
        region = rows[:, None] * self.cols + cols[None, :]
        images = np.asarray(images, dtype=np.int64)
        return images[:, None, None] * self.per_image + region[None]


class SuperpixelUnits:
    """Segments of a higra watershed hierarchy, cut at ``threshold`` (for ``area``: regions
    smaller than this many pixels are merged away). Built from the pool images, once."""

    kind = "superpixel"
    needs_images = True  # make_unit_space passes the pool images

    def __init__(
        self,
        num_images: int,
        hw: tuple[int, int],
        images: np.ndarray,
        criterion: str = "area",
        threshold: float = 200.0,
        sigma: float = 1.0,
    ):
        from al_loop.core.segments import hierarchical_segments  # higra loads only when used

        if len(images) != num_images or tuple(images.shape[1:3]) != tuple(hw):
            raise ConfigError(
                f"units: superpixels need {num_images} images of {hw}, got {images.shape[:3]}"
            )
        self.num_images, self.hw = num_images, hw
        segments = [
            hierarchical_segments(image, criterion, threshold=threshold, sigma=sigma)
            for image in images
        ]
        self.labels = np.stack(segments) if segments else np.zeros((0, *hw), dtype=np.int32)
        self.counts = np.array([int(s.max()) + 1 for s in segments], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        # bounding slices of segments 0..K-1 of every image, in units() order
        self._boxes = [box for s in segments for box in ndimage.find_objects(s + 1)]

    def units(self) -> list[Unit]:
        return [Unit(i, r) for i in range(self.num_images) for r in range(int(self.counts[i]))]

    def box(self, unit: Unit) -> Box:
        rows, cols = self._boxes[self.offsets[unit.image] + unit.region]
        return rows.start, cols.start, rows.stop, cols.stop

    def mask(self, unit: Unit) -> np.ndarray:
        y0, x0, y1, x1 = self.box(unit)
        return self.labels[unit.image, y0:y1, x0:x1] == unit.region

    def pixel_unit_index(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.int64)
        return self.offsets[images][:, None, None] + self.labels[images]


UNIT_SPACES: dict[str, Callable[..., UnitSpace]] = {
    "image": ImageUnits,
    "grid": GridUnits,
    "superpixel": SuperpixelUnits,
}


def make_unit_space(
    kind: str, num_images: int, hw: tuple[int, int], images: np.ndarray | None = None, **params
) -> UnitSpace:
    """``images`` (the pool) is passed on to the kinds that are built from pixels."""
    if kind not in UNIT_SPACES:
        raise ConfigError(f"units.kind: unknown '{kind}'; valid: {', '.join(sorted(UNIT_SPACES))}")
    factory = UNIT_SPACES[kind]
    if getattr(factory, "needs_images", False):
        if images is None:
            raise ConfigError(f"units.kind '{kind}' is built from the pool images; none given")
        params = {**params, "images": images}
    return factory(num_images, hw, **params)
