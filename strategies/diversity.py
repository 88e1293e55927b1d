"""Diversity: core-set (greedy k-center) and a hybrid (the most uncertain unit of each cluster).

A batch chosen by uncertainty alone piles up near-duplicates: consecutive DAVIS frames of one
video are all uncertain in the same way, so the top of the list is one video many times. Both
strategies here spread a round's choice over the segmenter's feature space (penultimate
per-pixel features averaged over each unit, ``SelectionContext.unit_features``).
"""

from __future__ import annotations

import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import Ranked, SelectionContext
from strategies.reduce import REDUCTIONS
from strategies.scores import PIXEL_SCORES
from strategies.uncertainty import available_mask, check_choice, unit_scores


def k_center_greedy(
    points: np.ndarray, centers: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sener & Savarese (ICLR 2018): repeatedly take the point farthest from every center so far.

    ``points`` [P,D]; ``centers`` bool [P] (already chosen, e.g. labelled). Returns (indices,
    distances at pick time), best first; the distances never increase. With no center yet the
    first point is drawn from ``rng``. Ties go to the lower index.
    """
    points = np.asarray(points, dtype=np.float64)
    free = ~np.asarray(centers, dtype=bool)
    count = min(count, int(free.sum()))
    nearest = np.full(len(points), np.inf)
    for c in np.flatnonzero(~free):
        nearest = np.minimum(nearest, np.linalg.norm(points - points[c], axis=1))
    picks, distances = [], []
    for _ in range(count):
        if np.isinf(nearest[free]).all():  # nothing to be far from yet
            pick = int(rng.choice(np.flatnonzero(free)))
        else:
            pick = int(np.argmax(np.where(free, nearest, -np.inf)))
        picks.append(pick)
        distances.append(nearest[pick])
        free[pick] = False
        nearest = np.minimum(nearest, np.linalg.norm(points - points[pick], axis=1))
    return np.array(picks, dtype=np.int64), np.array(distances, dtype=np.float64)


def kmeans(
    points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 25
) -> np.ndarray:
    """int64 [P] cluster ids 0..k-1: k-means++ seeding, then Lloyd iterations (plain numpy)."""
    points = np.asarray(points, dtype=np.float64)
    k = min(k, len(points))
    centroids = [points[rng.integers(len(points))]]
    d2 = ((points - centroids[0]) ** 2).sum(axis=1)  # to the nearest centroid so far
    for _ in range(1, k):
        if d2.sum() <= 0:  # fewer distinct points than clusters
            centroids.append(points[rng.integers(len(points))])
        else:
            centroids.append(points[rng.choice(len(points), p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((points - centroids[-1]) ** 2).sum(axis=1))
    centroids = np.array(centroids)
    labels = np.zeros(len(points), dtype=np.int64)
    for step in range(iterations):
        d2 = ((points[:, None, :] - centroids[None]) ** 2).sum(axis=2)
        new_labels = d2.argmin(axis=1)
        if step > 0 and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for j in range(k):
            members = points[labels == j]
            if len(members):
                centroids[j] = members.mean(axis=0)
    return labels


class CoresetStrategy:
    """Greedy k-center over unit features; the labelled units are the initial centers."""

    name = "coreset"

    def rank(self, ctx: SelectionContext, count: int) -> Ranked:
        all_units = ctx.unit_space.units()
        picks, distances = k_center_greedy(
            ctx.unit_features(), ~available_mask(ctx), count, ctx.rng
        )
        finite = np.where(np.isinf(distances), np.finfo(np.float64).max, distances)
        return Ranked([all_units[i] for i in picks], [float(d) for d in finite])


class HybridStrategy:
    """Uncertainty within diverse clusters (as in Zhdanov 2019, "diverse mini-batch AL"): keep
    the ``prefilter`` x ``count`` most uncertain candidates, cluster them into ``count``
    clusters by unit features, take the most uncertain unit of each cluster."""

    name = "hybrid"

    def __init__(
        self,
        score: str = "entropy",
        reduction: str = "mean",
        prefilter: float = 4.0,
        class_balance: bool = False,
    ):
        check_choice("score", score, PIXEL_SCORES)
        check_choice("reduction", reduction, REDUCTIONS)
        if prefilter < 1:
            raise ConfigError(f"strategy.prefilter: must be >= 1, got {prefilter}")
        self.score, self.reduction = score, reduction
        self.prefilter, self.class_balance = prefilter, class_balance

    def rank(self, ctx: SelectionContext, count: int) -> Ranked:
        all_units = ctx.unit_space.units()
        pixel_scores = PIXEL_SCORES[self.score](ctx.probabilities())
        scores = unit_scores(ctx, pixel_scores, self.reduction, self.class_balance)
        candidates = np.flatnonzero(available_mask(ctx))
        by_score = candidates[np.lexsort((candidates, -scores[candidates]))]
        shortlist = by_score[: max(count, int(np.ceil(self.prefilter * count)))]
        clusters = kmeans(ctx.unit_features()[shortlist], count, ctx.rng)
        # shortlist is best first, so the first member of each cluster is its most uncertain
        _, first = np.unique(clusters, return_index=True)
        chosen = set(shortlist[first].tolist())
        for i in by_score:  # fewer distinct clusters than asked: fill up by score
            if len(chosen) >= min(count, len(by_score)):
                break
            chosen.add(int(i))
        ordered = [int(i) for i in by_score if i in chosen]
        return Ranked([all_units[i] for i in ordered], [float(scores[i]) for i in ordered])
