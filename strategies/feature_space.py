"""Feature space: choose the clusters of a 2-D projection that are most mixed or least labelled.

Every unit of the pool is a point: the segmenter's features averaged over the unit
(``SelectionContext.unit_features``), projected to 2-D with UMAP as in feature-space annotation
(Bragantini et al., Pattern Recognition 2022) and clustered (k-means on the projection). A
cluster scores high when the classes the model predicts for its units are mixed (normalised
entropy of their histogram) and when few of its units are labelled yet; the units of the best
clusters come first, the most uncertain first within a cluster. Whole clusters are chosen, so a
box-labeller can label many of them with one box, but any annotation method can take them.
"""

from __future__ import annotations

import math

import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import Ranked, SelectionContext
from al_loop.feature_space.projection import MAIN_VIEW, Projection
from strategies.diversity import kmeans
from strategies.reduce import reduce_to_units
from strategies.scores import PIXEL_SCORES
from strategies.uncertainty import available_mask


def normalised_entropy(counts: np.ndarray) -> np.ndarray:
    """[K] entropy of each row of ``counts`` [K,C] over log(C): 0 pure, 1 evenly mixed."""
    counts = np.asarray(counts, np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    p = counts / np.maximum(totals, 1e-12)
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
    return entropy / math.log(counts.shape[1]) if counts.shape[1] > 1 else np.zeros(len(counts))


def cluster_scores(
    clusters: np.ndarray,
    predicted: np.ndarray,
    labelled: np.ndarray,
    num_classes: int,
    mixed_weight: float = 1.0,
    coverage_weight: float = 1.0,
) -> np.ndarray:
    """float64 [K]: ``mixed_weight`` x normalised entropy of the predicted classes of each
    cluster's units + ``coverage_weight`` x the fraction of its units not labelled."""
    k = int(clusters.max()) + 1 if len(clusters) else 0
    histogram = np.zeros((k, num_classes))
    np.add.at(histogram, (clusters, predicted), 1)
    sizes = np.bincount(clusters, minlength=k)
    covered = np.bincount(clusters, weights=labelled.astype(np.float64), minlength=k)
    uncovered = 1.0 - covered / np.maximum(sizes, 1)
    return mixed_weight * normalised_entropy(histogram) + coverage_weight * uncovered


def order_by_cluster(
    clusters: np.ndarray, scores: np.ndarray, within: np.ndarray, available: np.ndarray
) -> np.ndarray:
    """Indices of the available points: by cluster score descending, then by ``within``
    descending; ties go to the lower index."""
    points = np.flatnonzero(available)
    order = np.lexsort((points, -within[points], -scores[clusters[points]]))
    return points[order]


class FeatureSpaceStrategy:
    name = "feature_space"

    def __init__(
        self,
        clusters: int | None = None,
        projection: str = "umap",
        mixed_weight: float = 1.0,
        coverage_weight: float = 1.0,
        max_fit_points: int = 5000,
    ):
        """``clusters``: k-means clusters on the projection (default about sqrt(units / 2)).
        ``max_fit_points``: above this many units, UMAP is fitted on an even subsample and the
        other units are transformed in (a fit is superlinear in the points)."""
        if projection not in Projection.METHODS:
            raise ConfigError(
                f"strategy.projection: unknown '{projection}'; valid: {', '.join(Projection.METHODS)}"
            )
        if (clusters is not None and clusters < 1) or max_fit_points < 2:
            raise ConfigError("strategy: clusters >= 1 and max_fit_points >= 2")
        self.clusters, self.projection = clusters, projection
        self.mixed_weight, self.coverage_weight = mixed_weight, coverage_weight
        self.max_fit_points = max_fit_points

    def project(self, features: np.ndarray, seed: int) -> np.ndarray:
        """float32 [U,2]: UMAP (or PCA) coordinates of every unit."""
        projection = Projection(MAIN_VIEW, seed, self.projection)
        if len(features) <= self.max_fit_points:
            return projection.fit(features)
        fit = np.linspace(0, len(features) - 1, self.max_fit_points).round().astype(np.int64)
        coords = np.zeros((len(features), 2), np.float32)
        coords[fit] = projection.fit(features[fit])
        rest = np.setdiff1d(np.arange(len(features)), fit)
        coords[rest] = projection.transform(features[rest])
        return coords

    def rank(self, ctx: SelectionContext, count: int) -> Ranked:
        units = ctx.unit_space.units()
        available = available_mask(ctx)
        if not available.any():
            return Ranked([], [])
        probs = ctx.probabilities()
        index = ctx.unit_space.pixel_unit_index(np.arange(len(ctx.pool))).ravel()
        num_classes = probs.shape[1]
        class_mass = np.stack(
            [
                reduce_to_units(probs[:, c].ravel(), index, len(units), "mean")
                for c in range(num_classes)
            ],
            axis=1,
        )
        predicted = class_mass.argmax(axis=1)
        uncertainty = reduce_to_units(
            PIXEL_SCORES["entropy"](probs).ravel(), index, len(units), "mean"
        )
        seed = int(ctx.rng.integers(2**31 - 1))
        coords = self.project(np.asarray(ctx.unit_features(), np.float32), seed)
        k = self.clusters or max(1, round(math.sqrt(len(units) / 2)))
        clusters = kmeans(coords, k, ctx.rng)
        scores = cluster_scores(
            clusters, predicted, ~available, num_classes, self.mixed_weight, self.coverage_weight
        )
        chosen = order_by_cluster(clusters, scores, uncertainty, available)[:count]
        return Ranked([units[i] for i in chosen], [float(scores[clusters[i]]) for i in chosen])
