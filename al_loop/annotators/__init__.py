"""Annotators: who labels a unit for the loop, pairing a simulated user with a method.

- ``simulated.SimulatedAnnotator``: every object of a unit, a simulated user
  (``simulators.USERS``) driving an interactive method (``al_loop.interactive.METHODS``); the
  config's ``annotation.method`` names the method.
- ``BATCH_ANNOTATORS``: ``annotation.method`` names that are not an interactive method driven
  object by object (the feature-space box-labeller; region labels, one click per region;
  dense labels, every pixel painted at the data set's price per image).
- ``noc``: the NoC benchmark's runner (a fresh user per image).
"""

from __future__ import annotations

from collections.abc import Callable

from al_loop.annotators.dense import dense_annotator
from al_loop.annotators.feature_space import FeatureSpaceAnnotator
from al_loop.annotators.region_label import region_label_annotator
from al_loop.core.protocols import Annotator

# name -> class called with (pool_masks, cost, seed=..., **annotation.params)
BATCH_ANNOTATORS: dict[str, Callable[..., Annotator]] = {
    "feature_space": FeatureSpaceAnnotator,
    "region_label": region_label_annotator,
    "dense": dense_annotator,
}

__all__ = ["BATCH_ANNOTATORS"]
