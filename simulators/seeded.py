"""Simulated users for the methods opened by a box-like interaction, and a scribbler.

Each opening user describes the object once (extreme points, a box, IOG's corners and inside
point, all read off the ground truth with a seeded noise model), then corrects with the standard
NoC clicks (``NocClicker``). The ``ScribbleUser`` draws every stroke along the skeleton of the
largest error region. All are deterministic for a seed and model-free; ``get_state`` /
``set_state`` resume them exactly.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np
from skimage.morphology import skeletonize

from al_loop.core.geometry import (
    bounding_box,
    extreme_points,
    interior_point,
    split_gt,
)
from al_loop.core.interactions import Box, ExtremePoints, InsideOutside, Scribble
from simulators.clicker import NocClicker


def _clip(y: float, x: float, shape: tuple[int, ...]) -> tuple[int, int]:
    return int(np.clip(round(y), 0, shape[0] - 1)), int(np.clip(round(x), 0, shape[1] - 1))


class OpeningUser:
    """Describes the object once (``describe``), then clicks like ``NocClicker``.

    ``offset``: standard deviation (pixels) of the Gaussian noise on every opening coordinate;
    ``jitter`` / ``wrong_click_prob``: the clicker's noise. When there is no object (a predicted
    class to remove) the user skips the opening and clicks.
    """

    name = "opening_user"
    stops_at_target = True

    def __init__(
        self, seed: int = 0, offset: float = 0.0, jitter: float = 0.0, wrong_click_prob: float = 0.0
    ):
        if offset < 0:
            raise ValueError("offset must be >= 0")
        self.seed, self.offset = seed, offset
        self.clicker = NocClicker(seed + 1, jitter, wrong_click_prob)
        self.reset()

    def reset(self) -> None:
        self.opened = False
        self._rng = np.random.default_rng(self.seed)
        self.clicker.reset()

    def noisy(self, point: tuple[int, int], shape: tuple[int, ...]) -> tuple[int, int]:
        # Always draw, so the stream does not depend on whether noise is on.
        dy, dx = self._rng.normal(0.0, 1.0, size=2) * self.offset
        return _clip(point[0] + dy, point[1] + dx, shape)

    def describe(self, obj: np.ndarray):
        raise NotImplementedError

    def next_interaction(self, gt: np.ndarray, current: np.ndarray):
        if not self.opened:
            self.opened = True
            obj, _ = split_gt(gt)
            if obj.any():
                return self.describe(obj)
        return self.clicker.next_interaction(gt, current)

    def get_state(self) -> dict:
        return {
            "opened": self.opened,
            "rng": self._rng.bit_generator.state,
            "clicker": self.clicker.get_state(),
        }

    def set_state(self, state: dict) -> None:
        self.opened = bool(state["opened"])
        self._rng = np.random.default_rng(self.seed)
        self._rng.bit_generator.state = state["rng"]
        self.clicker.set_state(state["clicker"])


class ExtremePointsUser(OpeningUser):
    """Four extreme points (DEXTR's input), each moved by ``offset`` noise."""

    name = "extreme_points_user"

    def describe(self, obj: np.ndarray) -> ExtremePoints:
        return ExtremePoints(tuple(self.noisy(p, obj.shape) for p in extreme_points(obj)))


class BoxUser(OpeningUser):
    """The tight bounding box, each side moved by ``offset`` noise (a box of at least 2x2)."""

    name = "box_user"

    def describe(self, obj: np.ndarray) -> Box:
        y0, x0, y1, x1 = bounding_box(obj)
        y0, x0 = self.noisy((y0, x0), obj.shape)
        y1, x1 = self.noisy((y1 - 1, x1 - 1), obj.shape)
        y0, y1 = min(y0, y1), max(y0, y1)
        x0, x1 = min(x0, x1), max(x0, x1)
        return Box(
            y0, x0, min(obj.shape[0], max(y1 + 1, y0 + 2)), min(obj.shape[1], max(x1 + 1, x0 + 2))
        )


class InsideOutsideUser(OpeningUser):
    """IOG's input: two opposite corners of the box (just outside the object, ``margin``
    pixels) and the interior point farthest from the boundary; corners take ``offset`` noise."""

    name = "inside_outside_user"

    def __init__(self, seed: int = 0, margin: int = 2, **noise):
        if margin < 0:
            raise ValueError("margin must be >= 0")
        self.margin = margin
        super().__init__(seed, **noise)

    def describe(self, obj: np.ndarray) -> InsideOutside:
        y0, x0, y1, x1 = bounding_box(obj)
        m = self.margin
        first = self.noisy((y0 - m, x0 - m), obj.shape)
        second = self.noisy((y1 - 1 + m, x1 - 1 + m), obj.shape)
        return InsideOutside((first, second), interior_point(obj))


def largest_error(gt: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """(bool region, positive) of the largest 8-connected error region, FN winning ties."""
    obj, ignore = split_gt(gt)
    pred = np.asarray(current, dtype=bool)
    best: tuple[int, np.ndarray, bool] | None = None
    for positive, error in ((True, obj & ~pred & ~ignore), (False, ~obj & pred & ~ignore)):
        count, comp, stats, _ = cv2.connectedComponentsWithStats(error.astype(np.uint8), 8)
        if count > 1:
            k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            if best is None or stats[k, cv2.CC_STAT_AREA] > best[0]:
                best = (int(stats[k, cv2.CC_STAT_AREA]), comp == k, positive)
    return None if best is None else (best[1], best[2])


def longest_skeleton_path(region: np.ndarray) -> list[tuple[int, int]]:
    """The longest path (two BFS sweeps, 8-neighbours) on the skeleton of ``region``."""
    skeleton = skeletonize(region)
    if not skeleton.any():  # a one- or two-pixel region
        skeleton = region
    pixels = {(int(y), int(x)) for y, x in zip(*np.nonzero(skeleton), strict=True)}

    def sweep(start):
        parent = {start: None}
        queue, last = deque([start]), start
        while queue:
            last = queue.popleft()
            y, x = last
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    nb = (y + dy, x + dx)
                    if nb in pixels and nb not in parent:
                        parent[nb] = last
                        queue.append(nb)
        return last, parent

    end, _ = sweep(min(pixels))
    other, parent = sweep(end)
    path, node = [], other
    while node is not None:
        path.append(node)
        node = parent[node]
    return path


class ScribbleUser:
    """Each stroke runs along the skeleton of the largest error region: positive on a missed
    part, negative on a false positive. ``min_pixels``: smaller regions are not worth a stroke
    (the user stops). ``wobble``: standard deviation (pixels) of Gaussian noise on each stroke
    point, clipped to the image. The first stroke on an empty mask marks the object."""

    name = "scribble_user"
    stops_at_target = True

    def __init__(self, seed: int = 0, wobble: float = 0.0, min_pixels: int = 4):
        if wobble < 0 or min_pixels < 1:
            raise ValueError("wobble must be >= 0 and min_pixels >= 1")
        self.seed, self.wobble, self.min_pixels = seed, wobble, min_pixels
        self.reset()

    def reset(self) -> None:
        self.strokes = 0
        self._rng = np.random.default_rng(self.seed)

    def next_interaction(self, gt: np.ndarray, current: np.ndarray) -> Scribble | None:
        found = largest_error(gt, current)
        if found is None or int(found[0].sum()) < self.min_pixels:
            return None
        region, positive = found
        path = longest_skeleton_path(region)
        noise = self._rng.normal(0.0, 1.0, size=(len(path), 2)) * self.wobble
        points = tuple(
            _clip(y + dy, x + dx, region.shape)
            for (y, x), (dy, dx) in zip(path, noise, strict=True)
        )
        self.strokes += 1
        return Scribble(points, positive)

    def get_state(self) -> dict:
        return {"strokes": self.strokes, "rng": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.strokes = int(state["strokes"])
        self._rng = np.random.default_rng(self.seed)
        self._rng.bit_generator.state = state["rng"]
