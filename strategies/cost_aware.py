"""Cost-aware selection: value per expected second of labelling, not per unit.

Units differ a lot in what they cost: a cell of plain background is one confirming click, a cell
crossed by three objects is three objects' worth of clicks. ``FeatureCostPredictor`` predicts a
unit's seconds from what the model sees in it (predicted objects, boundary length, confidence,
area), fitted by ridge regression on what the units labelled so far in this run actually cost;
``CostAwareStrategy`` divides any scoring strategy's unit scores by that prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from skimage.measure import label as connected_regions

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import Ranked, SelectionContext, Strategy
from al_loop.core.units import Unit
from al_loop.data.base import BACKGROUND
from strategies.uncertainty import rank_by_score

COST_FEATURES = ("objects", "boundary", "uncertainty", "area")


def unit_cost_features(
    probs: np.ndarray, pixel_unit_index: np.ndarray, num_units: int, min_object_pixels: int = 16
) -> np.ndarray:
    """float64 [num_units, 4]: per unit, (1) predicted objects: 8-connected pieces of one
    non-background class inside the unit with at least ``min_object_pixels`` pixels, as a
    simulated or real person would draw them; (2) predicted boundary pixels (class differs from
    the right or lower neighbour); (3) mean uncertainty 1 - max_c p_c; (4) pixel count."""
    predicted = probs.argmax(axis=1)
    index = pixel_unit_index.astype(np.int64)
    num_classes = probs.shape[1]
    objects = np.zeros(num_units)
    for image_index, image_units in zip(predicted, index, strict=True):
        # one region per (unit, class) piece: the same class in two units is two objects
        key = image_units * num_classes + image_index
        pieces = connected_regions(key, background=-1, connectivity=2).ravel()
        sizes = np.bincount(pieces)
        _, first = np.unique(pieces, return_index=True)
        piece_key = key.ravel()[first]
        is_object = (piece_key % num_classes != BACKGROUND) & (sizes[1:] >= min_object_pixels)
        np.add.at(objects, piece_key[is_object] // num_classes, 1)
    edge = np.zeros(predicted.shape, dtype=bool)
    edge[:, :, :-1] |= predicted[:, :, :-1] != predicted[:, :, 1:]
    edge[:, :-1, :] |= predicted[:, :-1, :] != predicted[:, 1:, :]
    flat = index.ravel()
    area = np.bincount(flat, minlength=num_units).astype(np.float64)
    boundary = np.bincount(flat, weights=edge.ravel(), minlength=num_units)
    unsure = np.bincount(flat, weights=1.0 - probs.max(axis=1).ravel(), minlength=num_units)
    return np.stack([objects, boundary, unsure / np.maximum(area, 1), area], axis=1)


def fit_ridge(features: np.ndarray, targets: np.ndarray, alpha: float) -> np.ndarray:
    """Coefficients [1 + F] (intercept first) of ridge regression on standardised features;
    the intercept is not penalised."""
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-9
    z = (features - mean) / std
    design = np.hstack([np.ones((len(z), 1)), z])
    penalty = alpha * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    solution = np.linalg.solve(design.T @ design + penalty, design.T @ targets)
    slopes = solution[1:] / std
    return np.concatenate([[solution[0] - slopes @ mean], slopes])


class FeatureCostPredictor:
    """The loop's ``CostPredictor``: ridge regression of measured seconds on
    ``unit_cost_features`` under the current model. Until ``min_history`` units are measured
    (and before any model exists) it predicts their mean, which ranks like no cost at all."""

    def __init__(self, min_history: int = 8, ridge: float = 1.0, min_object_pixels: int = 16):
        self.min_history, self.ridge, self.min_object_pixels = min_history, ridge, min_object_pixels

    def fit(self, ctx: SelectionContext) -> Callable[[Sequence[Unit]], np.ndarray]:
        measured = ctx.measured_seconds
        mean = float(np.mean(list(measured.values()))) if measured else 1.0
        if len(measured) < self.min_history or ctx.segmenter is None:
            return lambda units: np.full(len(units), mean)
        all_units = ctx.unit_space.units()
        row = {unit: i for i, unit in enumerate(all_units)}
        index = ctx.unit_space.pixel_unit_index(np.arange(len(ctx.pool)))
        features = unit_cost_features(
            ctx.probabilities(), index, len(all_units), self.min_object_pixels
        )
        seen = [row[u] for u in measured]
        seconds = np.array(list(measured.values()), dtype=np.float64)
        coefficients = fit_ridge(features[seen], seconds, self.ridge)
        predicted = coefficients[0] + features @ coefficients[1:]
        predicted = np.maximum(predicted, seconds.min())  # never cheaper than the cheapest seen
        return lambda units: predicted[[row[u] for u in units]]


class CostAwareStrategy:
    """Any strategy with ``unit_scores`` (entropy, margin, least_confidence, bald), ranked by
    score per expected second: ``strategy: {name: cost_aware, params: {base: entropy}}`` (the
    registry builds ``base`` and passes it in)."""

    def __init__(self, base: Strategy):
        if not hasattr(base, "unit_scores"):
            raise ConfigError(
                f"strategy.base: '{base.name}' gives no unit scores to divide by expected "
                "seconds; use entropy, margin, least_confidence or bald"
            )
        self.base = base
        self.name = f"{self.base.name}_per_second"
        self.needs_dropout = getattr(self.base, "needs_dropout", False)  # base bald: MC dropout

    def rank(self, ctx: SelectionContext, count: int) -> Ranked:
        scores = self.base.unit_scores(ctx)
        seconds = ctx.expected_seconds(ctx.unit_space.units())
        return rank_by_score(ctx, scores / np.maximum(seconds, 1e-6), count)
