"""From pixel scores to unit scores, and from unit scores to a ranked choice.

Kept apart from the scorers so that images, grid cells and superpixels plug in through a
``pixel_unit_index`` map without touching any scoring function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from al_loop.core.errors import ConfigError


def _mean(scores: np.ndarray, index: np.ndarray, num_units: int) -> np.ndarray:
    sums = np.bincount(index, weights=scores, minlength=num_units)
    counts = np.bincount(index, minlength=num_units)
    return sums / np.maximum(counts, 1)


def _sum(scores: np.ndarray, index: np.ndarray, num_units: int) -> np.ndarray:
    return np.bincount(index, weights=scores, minlength=num_units)


def _max(scores: np.ndarray, index: np.ndarray, num_units: int) -> np.ndarray:
    out = np.full(num_units, -np.inf)
    np.maximum.at(out, index, scores)
    return out


def _topk_mean(
    scores: np.ndarray, index: np.ndarray, num_units: int, fraction: float = 0.1
) -> np.ndarray:
    """Mean of each unit's highest ``fraction`` of pixel scores (at least one pixel)."""
    order = np.lexsort((-scores, index))  # by unit, then score descending
    sorted_index, sorted_scores = index[order], scores[order]
    counts = np.bincount(index, minlength=num_units)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    keep = np.maximum(np.ceil(counts * fraction).astype(np.int64), 1)
    position = np.arange(len(sorted_index)) - starts[sorted_index]
    top = position < keep[sorted_index]
    sums = np.bincount(sorted_index[top], weights=sorted_scores[top], minlength=num_units)
    return np.where(counts > 0, sums / keep, 0.0)


REDUCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "mean": _mean,
    "sum": _sum,
    "max": _max,
    "topk_mean": _topk_mean,
}


def reduce_to_units(
    pixel_scores: np.ndarray, pixel_unit_index: np.ndarray, num_units: int, how: str = "mean"
) -> np.ndarray:
    """float64 [num_units] from pixel scores [N,H,W] and each pixel's unit index [N,H,W]."""
    if how not in REDUCTIONS:
        raise ConfigError(
            f"strategy.reduction: unknown '{how}'; valid: {', '.join(sorted(REDUCTIONS))}"
        )
    if pixel_scores.shape != pixel_unit_index.shape:
        raise ValueError(
            f"scores {pixel_scores.shape} and unit index {pixel_unit_index.shape} differ"
        )
    return REDUCTIONS[how](
        pixel_scores.ravel().astype(np.float64), pixel_unit_index.ravel(), num_units
    )


def top_units(unit_scores: np.ndarray, available: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` best available units, best first; ties go to the lower index."""
    candidates = np.flatnonzero(available)
    order = np.lexsort((candidates, -unit_scores[candidates]))
    return candidates[order[:count]]
