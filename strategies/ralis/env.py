"""Simulated active-learning episodes on the policy-training set D_T (RALis, section 3.1), cheap
enough on a CPU to learn from thousands of actions.

Each step the agent sees the state (region descriptors of the state set D_S under the current
model) and K random sub-pools of N unlabelled D_T regions; it picks one region per sub-pool,
their ground truth is added, the model is trained a few more gradient steps, and the reward is
the gain of the reward-set metric (mIoU, or the ENet-weighted IoU of Jodeiri Rad & Armenakis
2022) on D_R, in IoU points (x100, as in the RALis code).

The model is not the loop's segmenter but a small head (a per-pixel MLP) on frozen, cached
encoder features at stride 4 (``strategies.ralis.encoder``): labels, region ids and scoring all
live at that resolution, and a step costs milliseconds. The state and action features are the
same functions of predicted probabilities that the ``ralis`` strategy computes from the loop's
segmenter (``strategies.ralis.features``), so the policy transfers to the loop.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from al_loop.core.errors import ConfigError
from al_loop.core.metrics import confusion_matrix, iou_per_class
from al_loop.data.base import IGNORE
from strategies.class_balance import enet_class_weights
from strategies.ralis.features import observation_features, region_descriptors

REWARDS = ("miou", "weighted_iou")


@dataclass(frozen=True)
class Observation:
    state: np.ndarray  # float32 [S, R]: descriptors of every D_S region
    pools: list[np.ndarray]  # per sub-pool, the candidate region indices (into D_T's regions)
    actions: list[np.ndarray]  # per sub-pool, float32 [n, F] candidate features


@dataclass(frozen=True)
class EpisodeSettings:
    steps: int = 8  # actions per episode (the episode's labelling budget)
    pools: int = 4  # K: sub-pools per step, one region labelled from each
    pool_size: int = 20  # N: candidates per sub-pool
    initial_regions: int = 8  # labelled at random before the first step
    initial_head_steps: int = 60  # head gradient steps on the initial regions
    head_steps: int = 15  # head gradient steps after each action (warm)
    head_hidden: int = 64
    head_lr: float = 0.01
    head_pixels: int = 8192  # labelled pixels per gradient step (a seeded sample)
    reward: str = "miou"
    grid: int = 2  # entropy pooling grid per region
    kl_bins: int = 8
    reward_draw: int = 0  # > 0: each episode scores on this many D_R images drawn at reset


@dataclass(frozen=True)
class RegionSet:
    """One of D_T, D_S, D_R at feature resolution."""

    pixels: np.ndarray  # float32 [n, h*w, F]: the head's input per pixel
    masks: np.ndarray  # uint8 [n, h, w] ground truth (IGNORE: not scored, not trained)
    index: np.ndarray  # int64 [n, h, w] region ids 0..U-1
    boxes: np.ndarray  # int64 [U, 4] (y0, x0, y1, x1) of each region at this resolution

    @property
    def num_regions(self) -> int:
        return len(self.boxes)


def weighted_iou(per_class_iou: np.ndarray, class_weights: np.ndarray) -> float:
    """IoU averaged with class weights over the classes whose IoU is defined (not NaN)."""
    iou = np.asarray(per_class_iou, dtype=np.float64)
    defined = ~np.isnan(iou)
    if not defined.any():
        return 0.0
    return float((class_weights[defined] * iou[defined]).sum() / class_weights[defined].sum())


class Head:
    """A per-pixel MLP on cached features, trained full-batch with Adam on labelled pixels."""

    def __init__(self, in_dims: int, num_classes: int, settings: EpisodeSettings):
        self.in_dims, self.num_classes, self.settings = in_dims, num_classes, settings
        self.reset(0)

    def reset(self, seed: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            h = self.settings.head_hidden
            self.net = nn.Sequential(
                nn.Linear(self.in_dims, h), nn.ReLU(), nn.Linear(h, self.num_classes)
            )
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.settings.head_lr)

    def fit(self, x: np.ndarray, y: np.ndarray, steps: int, seed: int) -> None:
        """``steps`` Adam steps on pixels ``x`` [P, F] with labels ``y`` [P] (no IGNORE)."""
        if len(y) == 0:
            return
        xs, ys = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
        generator = torch.Generator().manual_seed(seed)
        sample = self.settings.head_pixels
        for _ in range(steps):
            if len(ys) > sample:
                rows = torch.randint(len(ys), (sample,), generator=generator)
                bx, by = xs[rows], ys[rows]
            else:
                bx, by = xs, ys
            loss = F.cross_entropy(self.net(bx), by)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    def snapshot(self) -> tuple[dict, dict]:
        """The network's and optimiser's state, to try a counterfactual fit and come back."""
        return copy.deepcopy(self.net.state_dict()), copy.deepcopy(self.optimizer.state_dict())

    def restore(self, snapshot: tuple[dict, dict]) -> None:
        self.net.load_state_dict(snapshot[0])
        # a copy: the optimiser keeps the loaded tensors and updates them in place
        self.optimizer.load_state_dict(copy.deepcopy(snapshot[1]))

    @torch.no_grad()
    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """[n, h*w, F] -> float32 [n, h*w, C]."""
        return self.net(torch.from_numpy(pixels)).numpy()


def softmax_maps(logits: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """[n, h*w, C] logits -> float32 [n, C, h, w] probabilities."""
    z = logits - logits.max(-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(-1, keepdims=True)
    return p.transpose(0, 2, 1).reshape(len(p), -1, *hw)


class RegionEnv:
    """D_T regions labelled from ground truth, one head trained along the episode."""

    def __init__(
        self,
        train: RegionSet,
        state: RegionSet,
        reward: RegionSet,
        num_classes: int,
        settings: EpisodeSettings,
    ):
        if settings.reward not in REWARDS:
            raise ConfigError(f"training.reward: unknown '{settings.reward}'; valid: {REWARDS}")
        self.train, self.state_data, self.reward_data = train, state, reward
        self.num_classes, self.settings = num_classes, settings
        self.hw = train.masks.shape[1:]
        self.head = Head(train.pixels.shape[-1], num_classes, settings)
        counts = np.bincount(train.masks[train.masks != IGNORE], minlength=num_classes)
        self.class_weights = enet_class_weights(counts[:num_classes] / max(counts.sum(), 1))
        flat_index = train.index.reshape(len(train.masks), -1)
        flat_masks = train.masks.reshape(len(train.masks), -1)
        known = flat_masks != IGNORE
        self._pixel_x = train.pixels[known]  # [P, F] every D_T pixel with ground truth
        self._pixel_y = flat_masks[known]
        self._pixel_region = flat_index[known]
        self.labelled = np.zeros(train.num_regions, dtype=bool)
        self.steps_taken = 0
        self.seed = 0
        self.rng = np.random.default_rng(0)
        self.score = 0.0
        self.reward_rows = np.arange(len(reward.masks))

    # -- the episode --------------------------------------------------------------------------
    def reset(self, seed: int) -> Observation | None:
        s = self.settings
        self.seed, self.rng = seed, np.random.default_rng([seed, 7])
        self.head.reset(seed)
        if s.reward_draw:
            # a generator of its own: the episode's regions and sub-pools stay those of the seed
            draw = np.random.default_rng([seed, 11])
            rows = draw.choice(len(self.reward_data.masks), size=s.reward_draw, replace=False)
            self.reward_rows = np.sort(rows)
        self.labelled[:] = False
        first = self.rng.choice(len(self.labelled), size=s.initial_regions, replace=False)
        self.labelled[first] = True
        self.steps_taken = 0
        self._fit(s.initial_head_steps)
        self.score = self._score()
        return self.observe()

    def observe(self) -> Observation | None:
        """The current state and fresh sub-pools; None once the episode is over."""
        s = self.settings
        unlabelled = np.flatnonzero(~self.labelled)
        if self.steps_taken >= s.steps or len(unlabelled) < s.pools:
            return None
        train_descriptors = self.descriptors(self.train)
        state_descriptors = self.descriptors(self.state_data)
        drawn = self.rng.permutation(unlabelled)[: s.pools * s.pool_size]
        pools = np.array_split(drawn, s.pools)
        state, actions = observation_features(
            state_descriptors, train_descriptors, self.labelled, pools, self.num_classes, s.kl_bins
        )
        return Observation(state, pools, actions)

    def step(self, regions: list[int]) -> float:
        """Label ``regions`` (indices into D_T's regions), train the head, return the reward."""
        self.labelled[np.asarray(regions, dtype=np.int64)] = True
        self.steps_taken += 1
        self._fit(self.settings.head_steps)
        previous, self.score = self.score, self._score()
        return 100.0 * (self.score - previous)

    def step_with_marginals(self, regions: list[int]) -> tuple[float, list[float]]:
        """``step(regions)``, plus each region's marginal gain: the reward-set score after the
        step minus the score of the same step without that region (the head trained from the
        same state, with the same seed, on the other regions), in IoU points. What the episode
        has reached and the head's training this step cancel out; what is left is the pick's."""
        regions = [int(r) for r in regions]
        before, labelled = self.head.snapshot(), self.labelled.copy()
        seed = self._fit_seed(self.steps_taken + 1)
        without = []
        for k in range(len(regions)):
            self.labelled[np.asarray(regions[:k] + regions[k + 1 :], dtype=np.int64)] = True
            self._fit(self.settings.head_steps, seed)
            without.append(self._score())
            self.labelled[:] = labelled
            self.head.restore(before)
        reward = self.step(regions)
        return reward, [100.0 * (self.score - w) for w in without]

    # -- helpers ------------------------------------------------------------------------------
    def descriptors(self, regions: RegionSet) -> np.ndarray:
        probs = softmax_maps(self.head.logits(regions.pixels), self.hw)
        return region_descriptors(probs, regions.index, regions.boxes, self.settings.grid)

    def _fit_seed(self, steps_taken: int) -> int:
        return self.seed * 1000 + steps_taken

    def _fit(self, steps: int, seed: int | None = None) -> None:
        chosen = self.labelled[self._pixel_region]
        seed = self._fit_seed(self.steps_taken) if seed is None else seed
        self.head.fit(self._pixel_x[chosen], self._pixel_y[chosen], steps, seed)

    def per_class_iou(self) -> np.ndarray:
        rows = self.reward_rows
        predicted = self.head.logits(self.reward_data.pixels[rows]).argmax(-1)
        target = self.reward_data.masks[rows].reshape(len(predicted), -1)
        return iou_per_class(confusion_matrix(predicted, target, self.num_classes))

    def _score(self) -> float:
        iou = self.per_class_iou()
        if self.settings.reward == "miou":
            return mean_iou_of(iou)
        return weighted_iou(iou, self.class_weights)


def mean_iou_of(per_class_iou: np.ndarray) -> float:
    defined = per_class_iou[~np.isnan(per_class_iou)]
    return float(defined.mean()) if defined.size else 0.0
