"""Simulated active-learning episodes on the policy-training set D_T (RALis, section 3.1).

Each step the agent sees the state (region descriptors of the state set D_S under the current
segmenter) and K random sub-pools of N unlabelled D_T regions; it picks one region per sub-pool,
their ground truth is added, the segmenter is fine-tuned for a few epochs, and the reward is the
gain of the reward-set metric (mIoU, or the ENet-weighted IoU of Jodeiri Rad & Armenakis 2022)
on D_R, in IoU points (x100, as in the RALis code).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import Segmenter
from al_loop.core.units import UnitSpace
from al_loop.data.base import IGNORE, SegmentationData
from strategies.class_balance import enet_class_weights
from strategies.ralis.features import action_features, region_descriptors

REWARDS = ("miou", "weighted_iou")


@dataclass(frozen=True)
class Observation:
    state: np.ndarray  # float32 [S, R]: descriptors of every D_S region
    pools: list[np.ndarray]  # per sub-pool, the candidate region indices (into the env's units)
    actions: list[np.ndarray]  # per sub-pool, float32 [n, F] candidate features


@dataclass(frozen=True)
class EpisodeSettings:
    steps: int = 8  # actions per episode (the episode's labelling budget)
    pools: int = 4  # K: sub-pools per step, one region labelled from each
    pool_size: int = 20  # N: candidates per sub-pool
    initial_regions: int = 8  # labelled at random before the first step
    initial_fits: int = 2  # segmenter fits (each ``epochs`` long) on the initial regions
    fits_per_step: int = 1  # segmenter fits after each step
    reward: str = "miou"
    grid: int = 2  # entropy pooling grid per region
    kl_bins: int = 8


def unit_boxes(unit_space: UnitSpace) -> np.ndarray:
    """int64 [U, 4]: every unit's (y0, x0, y1, x1), in units() order."""
    return np.array([unit_space.box(u) for u in unit_space.units()], dtype=np.int64).reshape(-1, 4)


def weighted_iou(per_class_iou: list, class_weights: np.ndarray) -> float:
    """IoU averaged with class weights over the classes whose IoU is defined."""
    iou = np.array([np.nan if v is None else v for v in per_class_iou], dtype=np.float64)
    defined = ~np.isnan(iou)
    if not defined.any():
        return 0.0
    return float((class_weights[defined] * iou[defined]).sum() / class_weights[defined].sum())


class RegionEnv:
    """D_T regions labelled from ground truth, one segmenter fine-tuned along the episode."""

    def __init__(
        self,
        segmenter: Segmenter,
        train: SegmentationData,
        train_units: UnitSpace,
        state: SegmentationData,
        state_units: UnitSpace,
        reward: SegmentationData,
        settings: EpisodeSettings,
    ):
        if settings.reward not in REWARDS:
            raise ConfigError(f"training.reward: unknown '{settings.reward}'; valid: {REWARDS}")
        if train.masks is None or reward.masks is None:
            raise ConfigError("policy training needs ground truth for D_T and D_R")
        self.segmenter, self.settings = segmenter, settings
        self.train, self.state_data, self.reward_data = train, state, reward
        self.num_classes = train.num_classes
        self.train_index = train_units.pixel_unit_index(np.arange(len(train)))
        self.train_boxes = unit_boxes(train_units)
        self.state_index = state_units.pixel_unit_index(np.arange(len(state)))
        self.state_boxes = unit_boxes(state_units)
        self.class_weights = enet_class_weights(train.class_frequencies())
        self.labelled = np.zeros(len(self.train_boxes), dtype=bool)
        self.steps_taken = 0
        self.seed = 0
        self.rng = np.random.default_rng(0)
        self.score = 0.0

    # -- the episode --------------------------------------------------------------------------
    def reset(self, seed: int) -> Observation | None:
        s = self.settings
        self.seed, self.rng = seed, np.random.default_rng([seed, 7])
        self.segmenter.reset(seed)
        self.labelled[:] = False
        first = self.rng.choice(len(self.labelled), size=s.initial_regions, replace=False)
        self.labelled[first] = True
        self.steps_taken = 0
        self._fit(s.initial_fits)
        self.score = self._score()
        return self.observe()

    def observe(self) -> Observation | None:
        """The current state and fresh sub-pools; None once the episode is over."""
        s = self.settings
        unlabelled = np.flatnonzero(~self.labelled)
        if self.steps_taken >= s.steps or len(unlabelled) < s.pools:
            return None
        train_descriptors = self._descriptors(self.train.images, self.train_index, self.train_boxes)
        state = self._descriptors(self.state_data.images, self.state_index, self.state_boxes)
        labelled_histograms = train_descriptors[self.labelled, : self.num_classes]
        drawn = self.rng.permutation(unlabelled)[: s.pools * s.pool_size]
        pools = np.array_split(drawn, s.pools)
        actions = [
            action_features(train_descriptors[p], labelled_histograms, self.num_classes, s.kl_bins)
            for p in pools
        ]
        return Observation(state, pools, actions)

    def step(self, regions: list[int]) -> float:
        """Label ``regions`` (indices into the units of D_T), fine-tune, return the reward."""
        self.labelled[np.asarray(regions, dtype=np.int64)] = True
        self.steps_taken += 1
        self._fit(self.settings.fits_per_step)
        previous, self.score = self.score, self._score()
        return 100.0 * (self.score - previous)

    # -- helpers ------------------------------------------------------------------------------
    def _descriptors(self, images: np.ndarray, index: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        probs = self.segmenter.predict_proba(images)
        return region_descriptors(probs, index, boxes, self.settings.grid)

    def _labels(self) -> np.ndarray:
        """Ground truth inside the labelled regions, IGNORE elsewhere."""
        return np.where(self.labelled[self.train_index], self.train.masks, IGNORE).astype(np.uint8)

    def _fit(self, times: int) -> None:
        labels = self._labels()
        for k in range(times):
            seed = self.seed * 1000 + self.steps_taken * 10 + k
            self.segmenter.fit(self.train.images, labels, seed=seed)

    def _score(self) -> float:
        metrics = self.segmenter.evaluate(self.reward_data)
        if self.settings.reward == "miou":
            return float(metrics["miou"])
        return weighted_iou(metrics["per_class_iou"], self.class_weights)
