"""Where training puts the user's points: pure functions of a ground-truth mask and a seeded rng.

- ``error_click``: RITM's iterative sampler: the click goes into the larger error (missed
  object -> positive, false positive -> negative), at a random pixel among those farther from
  the error's boundary than half its maximum distance.
- ``random_clicks``: the opening clicks of the click model: one interior positive click
  (``error_click`` on an empty prediction), then a few random positives inside the object and
  negatives in a band around it.
- ``opening_points``: the opening of DEXTR (four extreme points) and IOG (two box corners just
  outside the object + its interior point), each point jittered like a person's.
- ``perturbed_mask``: a plausible wrong mask (grown/shrunk object, a chunk cut or added), the
  external mask the click model learns to correct (e.g. the downstream segmenter's).
"""

from __future__ import annotations

import cv2
import numpy as np

# the geometry the simulated users share: the same clicks a person simulates at test time
from al_loop.core.geometry import error_distance as boundary_distance
from al_loop.core.geometry import extreme_points, interior_point

Point = tuple[int, int]


def error_click(
    gt: np.ndarray, pred: np.ndarray, valid: np.ndarray, rng: np.random.Generator
) -> tuple[Point, bool] | None:
    """((y, x), positive) of the next corrective click, or None when nothing is wrong."""
    fn = boundary_distance(gt & ~pred & valid)
    fp = boundary_distance(~gt & pred & valid)
    fn_max, fp_max = float(fn.max()), float(fp.max())
    if max(fn_max, fp_max) <= 0.0:
        return None
    positive = fn_max > fp_max
    dist = fn if positive else fp
    ys, xs = np.nonzero(dist > max(fn_max, fp_max) / 2.0)
    k = int(rng.integers(len(ys)))
    return (int(ys[k]), int(xs[k])), positive


def random_clicks(
    obj: np.ndarray,
    valid: np.ndarray,
    rng: np.random.Generator,
    max_positive: int = 3,
    max_negative: int = 3,
    band: int = 40,
) -> tuple[list[Point], list[Point]]:
    """(positives, negatives): an interior first click, up to ``max_positive`` - 1 more inside
    the object (away from its edge), and up to ``max_negative`` background clicks within
    ``band`` pixels of the object."""
    first = error_click(obj, np.zeros_like(obj), valid, rng)
    if first is None:
        return [], []
    positives = [first[0]]
    inner = boundary_distance(obj) > 3
    for _ in range(int(rng.integers(max_positive))):
        positives.append(_random_pixel(inner if inner.any() else obj, rng))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    near = cv2.dilate(obj.astype(np.uint8), kernel) > 0
    ring = near & ~(boundary_distance(~obj) <= 5) & valid
    negatives = [_random_pixel(ring, rng) for _ in range(int(rng.integers(max_negative + 1)))]
    return positives, negatives if ring.any() else []


def _random_pixel(region: np.ndarray, rng: np.random.Generator) -> Point:
    ys, xs = np.nonzero(region)
    if len(ys) == 0:
        return 0, 0
    k = int(rng.integers(len(ys)))
    return int(ys[k]), int(xs[k])


def _jitter(point: Point, shape: tuple[int, ...], rng: np.random.Generator, sd: float) -> Point:
    dy, dx = rng.normal(0.0, sd, size=2)
    return (
        int(np.clip(round(point[0] + dy), 0, shape[0] - 1)),
        int(np.clip(round(point[1] + dx), 0, shape[1] - 1)),
    )


def opening_points(
    kind: str, obj: np.ndarray, rng: np.random.Generator, jitter: float = 0.0, margin: int = 2
) -> tuple[list[Point], list[Point]]:
    """(positives, negatives) of the opening interaction ``kind`` for object ``obj``:
    "extreme_points" four positive points; "inside_outside" the interior point (positive) and
    two opposite box corners ``margin`` pixels outside the object (negative)."""
    if kind == "extreme_points":
        return [_jitter(p, obj.shape, rng, jitter) for p in extreme_points(obj)], []
    if kind == "inside_outside":
        ys, xs = np.nonzero(obj)
        corners = [
            (int(ys.min()) - margin, int(xs.min()) - margin),
            (int(ys.max()) + margin, int(xs.max()) + margin),
        ]
        inside = interior_point(obj) if jitter == 0 else _random_inner_point(obj, rng)
        return [inside], [_jitter(c, obj.shape, rng, jitter) for c in corners]
    raise ValueError(f"no opening for interaction kind {kind!r}")


def _random_inner_point(obj: np.ndarray, rng: np.random.Generator) -> Point:
    """A random pixel in the inner half (by boundary distance) of the object: people click
    near, not exactly at, the centre."""
    dist = boundary_distance(obj)
    return _random_pixel(dist >= dist.max() / 2.0, rng)


def perturbed_mask(obj: np.ndarray, rng: np.random.Generator, max_radius: int = 15) -> np.ndarray:
    """The object grown or shrunk by a random radius (at most half its depth, so that some of
    it survives), then a random chunk cut out or added."""
    depth = float(boundary_distance(obj).max())
    radius = int(rng.integers(1, max(2, min(max_radius, int(depth / 2)) + 1)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    op = cv2.dilate if rng.random() < 0.5 else cv2.erode
    mask = op(obj.astype(np.uint8), kernel) > 0
    ys, xs = np.nonzero(obj)
    if len(ys):
        h = max(2, int((ys.max() - ys.min() + 1) * rng.uniform(0.15, 0.5)))
        w = max(2, int((xs.max() - xs.min() + 1) * rng.uniform(0.15, 0.5)))
        cy, cx = _random_pixel(obj, rng)
        mask[max(0, cy - h // 2) : cy + h // 2, max(0, cx - w // 2) : cx + w // 2] = (
            rng.random() < 0.5
        )
    return mask
