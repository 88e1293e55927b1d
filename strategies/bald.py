"""BALD with MC dropout: units where dropout samples of the segmenter disagree."""

from __future__ import annotations

import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import Ranked, SelectionContext
from strategies.reduce import REDUCTIONS
from strategies.scores import bald
from strategies.uncertainty import check_choice, rank_by_score, unit_scores

IMAGES_PER_CHUNK = 16  # MC samples are T times the probabilities: stream over the pool


class BaldStrategy:
    """Needs a segmenter trained with dropout (``segmenter.dropout`` > 0): its dropout stays on
    at inference and ``samples`` forward passes are drawn with a seed from the round's rng."""

    name = "bald"
    needs_dropout = True  # checked against segmenter.dropout before round 0 (wiring)

    def __init__(self, samples: int = 10, reduction: str = "mean", class_balance: bool = False):
        if samples < 2:
            raise ConfigError(f"strategy.samples: BALD needs at least 2 MC samples, got {samples}")
        check_choice("reduction", reduction, REDUCTIONS)
        self.samples, self.reduction, self.class_balance = samples, reduction, class_balance

    def pixel_scores(self, ctx: SelectionContext) -> np.ndarray:
        seed = int(ctx.rng.integers(2**31))
        chunks = []
        for start in range(0, len(ctx.pool), IMAGES_PER_CHUNK):
            images = np.arange(start, min(start + IMAGES_PER_CHUNK, len(ctx.pool)))
            chunks.append(bald(ctx.probability_samples(images, self.samples, seed + start)))
        return np.concatenate(chunks)

    def unit_scores(self, ctx: SelectionContext) -> np.ndarray:
        return unit_scores(ctx, self.pixel_scores(ctx), self.reduction, self.class_balance)

    def rank(self, ctx: SelectionContext, count: int) -> Ranked:
        return rank_by_score(ctx, self.unit_scores(ctx), count)
