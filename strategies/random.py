"""Uniform random choice among unlabelled units: the baseline every curve is compared to."""

from __future__ import annotations

from al_loop.core.protocols import Ranked, SelectionContext


class RandomStrategy:
    name = "random"

    def rank(self, ctx: SelectionContext, count: int) -> Ranked:
        candidates = ctx.candidates()
        order = ctx.rng.permutation(len(candidates))[:count]
        return Ranked([candidates[i] for i in order])
