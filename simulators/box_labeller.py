"""A simulated person labelling segments with boxes in a 2-D projection (feature-space annotation).

It looks at the projection with the ground truth in mind: it repeatedly draws the axis-aligned
box that captures the most not-yet-labelled segments whose majority class agrees, among boxes
whose agreeing fraction reaches ``purity``, and gives every segment inside the box that class.
When no box holds two agreeing segments any more, each remaining segment is labelled on its own.
Then it opens the segments that mix classes (or that a box gave another class) and splits them
with clicks: a seeded watershed restricted to the segment, on the colour distance of neighbours.
It pays per box, per inspected segment and per click (configs/costs.yaml: ``feature_space_box``, ``feature_space_segment``, ``feature_space_click``;
a segment labelled on its own costs ``region_label``).

Iterative, as the paper's user (``metric_rounds``): once a pass over the view holds no more boxes
(or every ``reproject_every`` boxes) the caller's ``reproject`` function (metric learning on the
labels so far and a new projection of the still-unlabelled segments,
``al_loop.feature_space.iterative.MetricReprojection``) moves the remaining points, and boxes are
drawn in the new view; zooming in and single labels come only once a re-projection yields no box.
The compute is priced 0 s: the paper's user waits for it and only actions are priced here (the
benchmark reports its CPU seconds beside).

Deterministic and model-free: the same projection and ground truth give the same boxes. Box
edges lie between the coordinates of the remaining points, on at most ``grid`` x ``grid``
quantile cuts (a box search over all point coordinates is O(S^4)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.core.geometry import largest_part_interior_point
from al_loop.data.base import IGNORE
from al_loop.feature_space.labelling import select_in_box, split_segment

PURITY_BY = ("segments", "pixels")
COST_ENTRIES = ("feature_space_box", "feature_space_segment", "feature_space_click", "region_label")


class Prices(Protocol):
    """Seconds of a named cost entry (``al_loop.core.cost.CostTable`` or a plain dict)."""

    def __getitem__(self, name: str) -> float: ...


# (labels so far uint8 [S], IGNORE where unlabelled; remaining bool [S]) -> coords float [S,2]
# of a new view; only the remaining segments' rows are read.
Reproject = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BoxChoice:
    x0: float
    y0: float
    x1: float
    y1: float
    label: int
    segments: tuple[int, ...]  # indices into the coordinates, in increasing order
    agreeing: int  # how many of them have ``label`` as their majority class


def _cuts(values: np.ndarray, grid: int) -> np.ndarray:
    """Up to ``grid - 1`` cut positions strictly between distinct values, at quantiles."""
    distinct = np.unique(values)
    if len(distinct) <= grid:
        picks = np.arange(1, len(distinct))
    else:
        picks = np.unique(np.round(np.arange(1, grid) * len(distinct) / grid).astype(np.int64))
    return (distinct[picks - 1] + distinct[picks]) / 2


def _spans(num_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Every cell range [start, stop) with start < stop, as two arrays."""
    start, stop = np.triu_indices(num_cells + 1, k=1)
    return start, stop


def _box_sums(cells, values, shape, dtype, x_start, x_stop, y_start, y_stop) -> np.ndarray:
    """[shape[0], x spans, y spans]: the sum of ``values`` at the ``cells`` (class, x cell,
    y cell) inside every box of the cut grid, by a summed-area table. Integer counts in int32
    (at most S) halve the memory traffic: this array is ``best_box``'s whole cost, 1.6 M cells
    a class at grid 32."""
    hist = np.zeros(shape, dtype)
    np.add.at(hist, cells, values)
    table = np.zeros((shape[0], shape[1] + 1, shape[2] + 1), dtype)
    table[:, 1:, 1:] = hist.cumsum(axis=1).cumsum(axis=2)
    strips = table[:, x_stop, :] - table[:, x_start, :]  # each x span's sums, y prefix sums
    return strips[:, :, y_stop] - strips[:, :, y_start]


def best_box(
    coords: np.ndarray,
    classes: np.ndarray,
    candidates: np.ndarray,
    num_classes: int,
    purity: float = 0.9,
    grid: int = 32,
    max_wrong: int | None = None,
    weights: np.ndarray | None = None,
) -> BoxChoice | None:
    """The box over the ``candidates`` (bool [S]) capturing the most segments of one class
    among boxes where that class makes at least ``purity`` of the segments with a class
    (``classes`` IGNORE: no ground truth, agree with anything). With ``weights`` (float [S],
    e.g. each segment's labelled pixels) purity is the class's share of the weight instead, so
    small wrong segments weigh little. Ties: fewer disagreeing segments, then the first in
    (x, y) cut order. None when no candidate has a class."""
    index = np.flatnonzero(candidates)
    points, cls = coords[index], classes[index]
    if not (cls != IGNORE).any():
        return None
    x_cuts, y_cuts = _cuts(points[:, 0], grid), _cuts(points[:, 1], grid)
    gx, gy = len(x_cuts) + 1, len(y_cuts) + 1
    cell_x = np.searchsorted(x_cuts, points[:, 0])
    cell_y = np.searchsorted(y_cuts, points[:, 1])
    known = cls != IGNORE
    # Only the classes present count (in increasing order, so the first maximum is the same
    # class as over all classes).
    present = np.unique(cls[known])
    cells = (np.searchsorted(present, cls[known]), cell_x[known], cell_y[known])
    x_start, x_stop = _spans(gx)
    y_start, y_stop = _spans(gy)
    counts = _box_sums(cells, 1, (len(present), gx, gy), np.int32, x_start, x_stop, y_start, y_stop)
    total = counts.sum(axis=0, dtype=np.int32)
    best_class = None  # unweighted: the class with the most segments, found for the best box
    if weights is None:
        agreeing = counts.max(axis=0)
        valid = agreeing >= purity * np.maximum(total, 1)
    else:  # the class with the most weight names the box; purity is its share of the weight
        weight = np.asarray(weights, np.float64)[index][known]
        spans = (x_start, x_stop, y_start, y_stop)
        mass = _box_sums(cells, weight, (len(present), gx, gy), np.float64, *spans)
        best_class = mass.argmax(axis=0)
        agreeing = np.take_along_axis(counts, best_class[None], axis=0)[0]
        valid = mass.max(axis=0) >= purity * np.maximum(mass.sum(axis=0), 1e-12)
    if max_wrong is not None:
        valid &= total - agreeing <= max_wrong
    score = np.where(valid, agreeing.astype(np.int64) * (total.size + 1) - (total - agreeing), -1)
    flat = int(np.argmax(score))  # first maximum: deterministic
    if score.flat[flat] < 0:
        return None
    i, j = np.unravel_index(flat, score.shape)
    best = int(np.argmax(counts[:, i, j]) if best_class is None else best_class[i, j])
    label = int(present[best])
    lo_x, hi_x = points[:, 0].min(), points[:, 0].max()
    lo_y, hi_y = points[:, 1].min(), points[:, 1].max()
    x0 = x_cuts[x_start[i] - 1] if x_start[i] > 0 else lo_x
    x1 = x_cuts[x_stop[i] - 1] if x_stop[i] < gx else hi_x
    y0 = y_cuts[y_start[j] - 1] if y_start[j] > 0 else lo_y
    y1 = y_cuts[y_stop[j] - 1] if y_stop[j] < gy else hi_y
    inside = index[select_in_box(points, x0, y0, x1, y1)]
    return BoxChoice(
        float(x0),
        float(y0),
        float(x1),
        float(y1),
        label,
        tuple(int(s) for s in inside),
        int(counts[best, i, j]),
    )


def zoom_tiles(coords: np.ndarray, most: int) -> list[np.ndarray]:
    """bool [S] masks of axis-aligned tiles covering the points ``coords`` [S,2], each with at
    most ``most`` points: the point set is halved at the median of its wider coordinate until
    every part is small enough (a k-d tree's leaves, in depth-first order)."""
    coords = np.asarray(coords, np.float64)
    tiles: list[np.ndarray] = []
    stack = [np.arange(len(coords))]
    while stack:
        index = stack.pop()
        if len(index) <= most:
            tile = np.zeros(len(coords), bool)
            tile[index] = True
            tiles.append(tile)
            continue
        points = coords[index]
        axis = int(np.argmax(points.max(axis=0) - points.min(axis=0)))
        order = index[np.argsort(points[:, axis], kind="stable")]
        half = len(order) // 2
        stack += [order[half:], order[:half]]  # the lower half is taken first
    return tiles


@dataclass
class SplitResult:
    """A mixed segment split by clicks: the class of each of its pixels inside its box."""

    box: tuple[int, int, int, int]  # y0, x0, y1, x1 in the segment's image
    labels: np.ndarray  # uint8 [y1-y0, x1-x0], IGNORE outside the segment
    clicks: list[tuple[int, int, int]]  # (y, x, class) in image coordinates


@dataclass
class Labelling:
    """What the box-labeller did to a set of segments."""

    segment_labels: np.ndarray  # uint8 [S]; IGNORE for segments without any ground truth
    seconds: np.ndarray  # float64 [S]: each segment's share of the time spent
    boxes: list[BoxChoice]
    singles: list[int]  # segments labelled on their own
    splits: dict[int, SplitResult] = field(default_factory=dict)
    reprojections: int = 0  # new views after metric learning (not priced: the user waits)

    @property
    def total_seconds(self) -> float:
        return float(self.seconds.sum())

    def action_counts(self) -> dict[str, int]:
        """How many of each priced action (keys of ``ACTION_PRICES``) the labelling took."""
        in_boxes = sum(len(box.segments) for box in self.boxes)
        return {
            "boxes": len(self.boxes),
            "segments": in_boxes + len(self.singles),  # every labelled segment is looked at
            "singles": len(self.singles),
            "clicks": sum(len(split.clicks) for split in self.splits.values()),
        }


# Each counted action and the cost entry that prices it (see ``BoxLabeller.label_projection``).
ACTION_PRICES = {
    "boxes": "feature_space_box",
    "segments": "feature_space_segment",
    "singles": "region_label",
    "clicks": "feature_space_click",
}


def priced_seconds(counts: dict[str, float], prices: Prices) -> float:
    """Seconds of the actions ``counts`` (``Labelling.action_counts``) at ``prices``."""
    return float(sum(counts[a] * float(prices[entry]) for a, entry in ACTION_PRICES.items()))


def fit_price_scale(
    counts: np.ndarray, fixed: np.ndarray, scaled: np.ndarray, targets: np.ndarray
) -> tuple[float, float]:
    """(scale, root-mean-square residual in the targets' unit) of the least-squares fit of
    ``counts @ (fixed + scale * scaled) = targets`` over the runs, scale >= 0.

    ``counts`` [R,K]: each run's actions (per image, say); ``fixed`` [K]: prices kept as they
    are (0 for the fitted actions); ``scaled`` [K]: the fitted actions' prices before scaling,
    which fix their ratios (0 for the kept ones); ``targets`` [R]: the measured seconds. One
    unknown for one or more observed totals: the ratios are the prior that makes it solvable.
    """
    counts = np.atleast_2d(np.asarray(counts, np.float64))
    fixed, scaled = np.asarray(fixed, np.float64), np.asarray(scaled, np.float64)
    targets = np.atleast_1d(np.asarray(targets, np.float64))
    if counts.shape != (len(targets), len(fixed)) or scaled.shape != fixed.shape:
        raise ValueError(
            f"fit_price_scale: counts {counts.shape}, fixed {fixed.shape}, scaled "
            f"{scaled.shape}, targets {targets.shape} do not match"
        )
    base = counts @ scaled
    rest = targets - counts @ fixed
    scale = float(max(base @ rest / (base @ base), 0.0)) if (base > 0).any() else 0.0
    residual = counts @ fixed + scale * base - targets
    return scale, float(np.sqrt(np.mean(residual**2)))


def click_split(
    image: np.ndarray,
    inside: np.ndarray,
    gt: np.ndarray,
    label: int,
    target_accuracy: float = 0.9,
    max_clicks: int = 6,
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """(uint8 labels of the segment, IGNORE outside; the clicks (y, x, class)) for a segment
    (``inside`` bool, on the colour crop ``image``) labelled ``label`` as a whole whose ground
    truth ``gt`` mixes classes or is another class. The first click goes inside the largest
    part of the segment's majority class: where the box gave the majority's class it says what
    the label keeps (and is spent only if a second click may follow: alone it changes nothing);
    where the box gave another class it relabels the segment, often all the fix it needs. Then
    each click goes at the interior of the largest wrong part with its true class, until
    ``target_accuracy`` or ``max_clicks``."""
    known = inside & (gt != IGNORE)
    current = np.where(inside, np.uint8(label), np.uint8(IGNORE))
    clicks: list[tuple[int, int, int]] = []
    if not known.any():
        return current, clicks  # nothing to check the label against
    majority = int(np.argmax(np.bincount(gt[known])))
    if majority == label and max_clicks < 2:
        return current, clicks
    while len(clicks) < max_clicks:
        wrong = known & (current != gt)
        if wrong.sum() <= (1 - target_accuracy) * max(int(known.sum()), 1):
            break
        if not clicks:
            y, x = largest_part_interior_point(known & (gt == majority))
        else:
            y, x = largest_part_interior_point(wrong)
        clicks.append((y, x, int(gt[y, x])))
        if len({c for _, _, c in clicks}) > 1 or gt[y, x] != label:
            current = split_segment(image, inside, clicks)
            current[inside & (current == IGNORE)] = label  # cut off from every click
    return current, clicks


class BoxLabeller:
    """The simulated user of feature-space annotation (see the module docstring).

    ``purity``: least fraction of a box's segments (with ground truth) of the box's class;
    ``purity_by``: "segments" (a box's agreeing share counts segments) or "pixels" (it weighs
    each segment by its labelled pixels, ``label_projection``'s ``areas``): a person judges a
    box by what its thumbnails show, where a large wrong segment stands out and a sliver does
    not; on CamVid, with 11 classes and 166 segments a frame, most disagreeing segments are
    slivers at class borders.
    ``max_wrong``: most segments of another class a box may hold (None: no limit). On a
    pool where one class dominates (DAVIS: about 90 % of segments are background), purity alone
    lets a background box swallow hundreds of object segments, which a person looking at the
    thumbnails would not accept.
    ``zoom_points``: once no box in the whole view holds two agreeing segments, the user zooms
    in: the projection is cut into tiles of at most this many points (median splits, as a
    k-d tree) and boxes are drawn in each tile, whose grid is then finer (None: no zooming,
    every remaining segment is labelled on its own). Zooming is not priced.
    ``split_below``: a segment whose majority class covers less than this fraction of its
    pixels is split with clicks, if its wrong pixels are at least ``min_split_pixels``.
    ``metric_rounds``: most re-projections of the remaining segments (the ``reproject`` given
    to ``label_projection``) after a pass of boxes, each after metric learning on the labels so
    far; they stop early once a new view yields no box. ``reproject_every``: a pass ends after
    that many boxes too (None: only when the view holds no more boxes).
    """

    name = "box_labeller"

    def __init__(
        self,
        cost: Prices,
        purity: float = 0.9,
        grid: int = 32,
        split_below: float = 0.8,
        min_split_pixels: int = 64,
        target_accuracy: float = 0.9,
        max_clicks: int = 6,
        max_wrong: int | None = None,
        zoom_points: int | None = None,
        metric_rounds: int = 0,
        reproject_every: int | None = None,
        purity_by: str = "segments",
    ):
        if purity_by not in PURITY_BY:
            raise ConfigError(
                f"box labeller: purity_by: unknown '{purity_by}'; valid: " + ", ".join(PURITY_BY)
            )
        self.purity_by = purity_by
        if metric_rounds < 0 or (reproject_every is not None and reproject_every < 1):
            raise ConfigError(
                "box labeller: metric_rounds >= 0, reproject_every >= 1 (or None: per pass)"
            )
        self.metric_rounds, self.reproject_every = metric_rounds, reproject_every
        self.reprojections = 0  # of the last labelling
        if zoom_points is not None and zoom_points < 2:
            raise ConfigError("box labeller: zoom_points >= 2 (or None: no zooming in)")
        self.zoom_points = zoom_points
        if not 0 < purity <= 1 or not 0 <= split_below <= 1 or grid < 2 or max_clicks < 0:
            raise ConfigError(
                "box labeller: 0 < purity <= 1, 0 <= split_below <= 1, grid >= 2, max_clicks >= 0"
            )
        if max_wrong is not None and max_wrong < 0:
            raise ConfigError("box labeller: max_wrong >= 0 (or None: purity alone decides)")
        self.max_wrong = max_wrong
        self.prices = {name: float(cost[name]) for name in COST_ENTRIES}
        self.purity, self.grid = purity, grid
        self.split_below, self.min_split_pixels = split_below, min_split_pixels
        self.target_accuracy, self.max_clicks = target_accuracy, max_clicks
        self.boxes_drawn = 0  # the state: what the user has done so far
        self.clicks_made = 0

    def get_state(self) -> dict:
        return {"boxes_drawn": self.boxes_drawn, "clicks_made": self.clicks_made}

    def set_state(self, state: dict) -> None:
        self.boxes_drawn = int(state["boxes_drawn"])
        self.clicks_made = int(state["clicks_made"])

    def label_projection(
        self,
        coords: np.ndarray,
        classes: np.ndarray,
        num_classes: int,
        reproject: Reproject | None = None,
        areas: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[BoxChoice], list[int]]:
        """Boxes until every segment with a class is labelled: (labels uint8 [S], seconds
        [S], the boxes, the segments labelled on their own). Segments without ground truth
        (``classes`` IGNORE) keep IGNORE unless a box swept them up. With ``metric_rounds``,
        ``reproject`` gives the new views (``self.reprojections`` counts them). ``areas``
        [S]: each segment's labelled pixels, needed with ``purity_by: pixels``."""
        if self.metric_rounds and reproject is None:
            raise ValueError("box labeller: metric_rounds needs a reproject function")
        weights = None
        if self.purity_by == "pixels":
            if areas is None or len(areas) != len(coords):
                raise ValueError("box labeller: purity_by 'pixels' needs the segments' areas")
            weights = np.asarray(areas, np.float64)
        coords, classes = np.asarray(coords, np.float64), np.asarray(classes)
        labels = np.full(len(coords), IGNORE, np.uint8)
        seconds = np.zeros(len(coords))
        remaining = np.ones(len(coords), bool)
        boxes: list[BoxChoice] = []
        self.reprojections = 0
        while True:
            last = self.reprojections >= self.metric_rounds  # the last view: no limit
            most = None if last else self.reproject_every
            drawn = self._draw_boxes(
                coords, classes, remaining, num_classes, labels, seconds, boxes, weights, most
            )
            if last or not drawn or not remaining.any():
                break  # no round left, a view without a box (nothing new to learn), or done
            coords = np.asarray(reproject(labels.copy(), remaining.copy()), np.float64)
            self.reprojections += 1
        if self.zoom_points:
            # A re-projection holds the remaining segments only, so only they are tiled.
            shown = np.flatnonzero(remaining if self.reprojections else np.ones(len(coords), bool))
            for tile in zoom_tiles(coords[shown], self.zoom_points):
                view = np.zeros(len(coords), bool)
                view[shown[tile]] = True
                candidates = remaining & view
                self._draw_boxes(
                    coords, classes, candidates, num_classes, labels, seconds, boxes, weights
                )
                remaining[view] = candidates[view]
        singles = [int(s) for s in np.flatnonzero(remaining & (classes != IGNORE))]
        labels[singles] = classes[singles]
        seconds[singles] += self.prices["region_label"] + self.prices["feature_space_segment"]
        self.boxes_drawn += len(boxes)
        return labels, seconds, boxes, singles

    def _draw_boxes(
        self,
        coords: np.ndarray,
        classes: np.ndarray,
        candidates: np.ndarray,
        num_classes: int,
        labels: np.ndarray,
        seconds: np.ndarray,
        boxes: list[BoxChoice],
        weights: np.ndarray | None = None,
        most: int | None = None,
    ) -> int:
        """Draw the best box among ``candidates`` (updated in place, as ``labels``,
        ``seconds`` and ``boxes``) until none holds two agreeing segments or ``most`` are
        drawn; how many were drawn. ``weights``: ``best_box``'s, for ``purity_by: pixels``."""
        drawn = 0
        while candidates.any() and (most is None or drawn < most):
            box = best_box(
                coords,
                classes,
                candidates,
                num_classes,
                self.purity,
                self.grid,
                self.max_wrong,
                weights,
            )
            if box is None or box.agreeing < 2:
                break
            chosen = np.asarray(box.segments)
            labels[chosen] = box.label
            seconds[chosen] += self.prices["feature_space_box"] / len(chosen)
            seconds[chosen] += self.prices["feature_space_segment"]
            candidates[chosen] = False
            boxes.append(box)
            drawn += 1
        return drawn

    def label_segments(
        self,
        coords: np.ndarray,
        segment_ids: np.ndarray,
        segments: np.ndarray,
        segment_image: np.ndarray,
        images: np.ndarray,
        masks: np.ndarray,
        num_classes: int,
        reproject: Reproject | None = None,
    ) -> Labelling:
        """Label the segments ``segment_ids`` (ids into ``segments`` int [N,H,W], their images
        in ``segment_image``) shown at ``coords`` [k,2], with ground truth ``masks``; mixed
        segments are split on ``images``. ``reproject``: see ``label_projection`` (over the
        k segments)."""
        from al_loop.feature_space.segments import (
            majority_and_purity,
            segment_boxes,
            segment_class_counts,
        )

        segment_ids = np.asarray(segment_ids, np.int64)
        counts = segment_class_counts(segments, masks, num_classes)[segment_ids]
        classes, _ = majority_and_purity(counts)
        labels, seconds, boxes, singles = self.label_projection(
            coords, classes, num_classes, reproject, counts.sum(axis=1)
        )
        splits: dict[int, SplitResult] = {}
        all_boxes = segment_boxes(segments)
        for k in range(len(segment_ids)):
            if not self.needs_split(counts[k], int(labels[k])):
                continue
            s = int(segment_ids[k])
            image = int(segment_image[s])
            y0, x0, y1, x1 = (int(v) for v in all_boxes[s])
            split, clicks = click_split(
                images[image, y0:y1, x0:x1],
                segments[image, y0:y1, x0:x1] == s,
                masks[image, y0:y1, x0:x1],
                int(labels[k]),
                self.target_accuracy,
                self.max_clicks,
            )
            if clicks:
                moved = [(y + y0, x + x0, c) for y, x, c in clicks]
                splits[k] = SplitResult((y0, x0, y1, x1), split, moved)
                seconds[k] += self.click_seconds(len(clicks))
        return Labelling(labels, seconds, boxes, singles, splits, self.reprojections)

    def needs_split(self, class_counts: np.ndarray, label: int) -> bool:
        """Whether the user opens a segment labelled ``label`` to fix it with clicks: it mixes
        classes (its majority covers less than ``split_below``) or the box gave it another
        class than its majority, and at least ``min_split_pixels`` of it are wrong."""
        total = int(class_counts.sum())
        if label == IGNORE or total == 0 or not self.max_clicks:
            return False
        wrong = total - int(class_counts[label]) if label < len(class_counts) else total
        mixed = class_counts.max() < self.split_below * total
        mislabelled = int(np.argmax(class_counts)) != label
        return (mixed or mislabelled) and wrong >= self.min_split_pixels

    def click_seconds(self, clicks: int) -> float:
        """What ``clicks`` clicks cost (counted in the user's state)."""
        self.clicks_made += clicks
        return self.prices["feature_space_click"] * clicks
