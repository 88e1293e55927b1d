"""Uncertainty sampling: score pixels, reduce to units, take the top ones."""

from __future__ import annotations

import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import Ranked, SelectionContext
from strategies.class_balance import rare_class_weights
from strategies.reduce import REDUCTIONS, reduce_to_units, top_units
from strategies.scores import PIXEL_SCORES


def check_choice(key: str, value: str, valid) -> None:
    if value not in valid:
        raise ConfigError(f"strategy.{key}: unknown '{value}'; valid: {', '.join(sorted(valid))}")


def unit_scores(
    ctx: SelectionContext, pixel_scores: np.ndarray, reduction: str, class_balance: bool = False
) -> np.ndarray:
    """[len(units())] unit scores from pool pixel scores [N,H,W]; with ``class_balance`` the
    pixels the model gives to rare classes weigh more (strategies.class_balance)."""
    if class_balance:
        pixel_scores = pixel_scores * rare_class_weights(ctx.probabilities())
    index = ctx.unit_space.pixel_unit_index(np.arange(len(ctx.pool)))
    return reduce_to_units(pixel_scores, index, len(ctx.unit_space.units()), reduction)


def available_mask(ctx: SelectionContext) -> np.ndarray:
    """bool [len(units())]: True for units a strategy may still choose."""
    return np.array([u not in ctx.labelled for u in ctx.unit_space.units()], dtype=bool)


def rank_by_score(ctx: SelectionContext, scores: np.ndarray, count: int) -> Ranked:
    """The ``count`` best available units by ``scores`` (one per unit of the space)."""
    all_units = ctx.unit_space.units()
    chosen = top_units(scores, available_mask(ctx), count)
    return Ranked([all_units[i] for i in chosen], [float(scores[i]) for i in chosen])


class UncertaintyStrategy:
    def __init__(
        self, score: str = "entropy", reduction: str = "mean", class_balance: bool = False
    ):
        check_choice("score", score, PIXEL_SCORES)
        check_choice("reduction", reduction, REDUCTIONS)
        self.name, self.score_fn, self.reduction = score, PIXEL_SCORES[score], reduction
        self.class_balance = bool(class_balance)

    def unit_scores(self, ctx: SelectionContext) -> np.ndarray:
        pixel_scores = self.score_fn(ctx.probabilities())
        return unit_scores(ctx, pixel_scores, self.reduction, self.class_balance)

    def rank(self, ctx: SelectionContext, count: int) -> Ranked:
        return rank_by_score(ctx, self.unit_scores(ctx), count)
