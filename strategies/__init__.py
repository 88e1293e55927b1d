"""Acquisition strategies. ``STRATEGIES`` maps a config name to a factory."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from al_loop.core.errors import ConfigError
from strategies.bald import BaldStrategy
from strategies.cost_aware import CostAwareStrategy
from strategies.diversity import CoresetStrategy, HybridStrategy
from strategies.feature_space import FeatureSpaceStrategy
from strategies.ralis import RalisStrategy
from strategies.random import RandomStrategy
from strategies.uncertainty import UncertaintyStrategy


def cost_aware(base: str = "entropy", **base_params) -> CostAwareStrategy:
    """``base`` (a registered strategy with unit scores, built with ``base_params``), ranked by
    score per expected second."""
    if base not in STRATEGIES:
        valid = ", ".join(sorted(STRATEGIES))
        raise ConfigError(f"strategy.params.base: unknown '{base}'; valid: {valid}")
    return CostAwareStrategy(make_strategy(base, **base_params))


STRATEGIES: dict[str, Callable[..., object]] = {
    "random": RandomStrategy,
    "entropy": partial(UncertaintyStrategy, score="entropy"),
    "margin": partial(UncertaintyStrategy, score="margin"),
    "least_confidence": partial(UncertaintyStrategy, score="least_confidence"),
    "bald": BaldStrategy,
    "coreset": CoresetStrategy,
    "hybrid": HybridStrategy,
    "cost_aware": cost_aware,
    "ralis": RalisStrategy,
    "feature_space": FeatureSpaceStrategy,
}


def make_strategy(name: str, **params):
    if name not in STRATEGIES:
        raise ConfigError(
            f"strategy.name: unknown '{name}'; valid: {', '.join(sorted(STRATEGIES))}"
        )
    try:
        return STRATEGIES[name](**params)
    except TypeError as err:
        raise ConfigError(f"strategy.params for '{name}': {err}") from err


__all__ = ["STRATEGIES", "make_strategy"]
