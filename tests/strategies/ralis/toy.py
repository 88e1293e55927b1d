"""A toy problem for the DQN machinery: each candidate carries its worth in its first feature."""

from __future__ import annotations

import numpy as np

from al_loop.data.base import IGNORE
from strategies.ralis.env import Observation, RegionSet
from strategies.ralis.features import boxes_of


class ValueInFeatureEnv:
    """Each step: K sub-pools of N candidates with random features; picking a candidate pays
    its first feature minus 0.5. A random policy earns 0 on average; a greedy one that has
    learned where the value is earns about N / (N + 1) - 0.5 per pick."""

    def __init__(self, steps=4, pools=2, pool_size=6, region_size=3, action_size=5):
        self.steps, self.pools, self.pool_size = steps, pools, pool_size
        self.region_size, self.action_size = region_size, action_size
        self.score = 0.0

    def reset(self, seed: int) -> Observation | None:
        self.rng, self.taken, self.score = np.random.default_rng(seed), 0, 0.0
        return self.observe()

    def observe(self) -> Observation | None:
        if self.taken >= self.steps:
            return None
        state = self.rng.random((4, self.region_size), dtype=np.float32)
        actions = [
            self.rng.random((self.pool_size, self.action_size), dtype=np.float32)
            for _ in range(self.pools)
        ]
        pools = [np.arange(k * self.pool_size, (k + 1) * self.pool_size) for k in range(self.pools)]
        self.values = np.concatenate([a[:, 0] for a in actions])
        return Observation(state, pools, actions)

    def step(self, regions: list[int]) -> float:
        self.taken += 1
        reward = float(sum(self.values[r] - 0.5 for r in regions))
        self.score += reward
        return reward


def coded_region_set(masks: np.ndarray, seed: int = 0, cell: int = 2) -> RegionSet:
    """A RegionSet whose pixel features code the class (0: [1, 0], 1: [0, 1], 2: [1, 1]) plus a
    little seeded noise, with ``cell`` x ``cell`` grid regions. A head that never saw class 2
    predicts 0 or 1 there (its code is not a new direction); one that saw it learns it."""
    n, h, w = masks.shape
    codes = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], np.float32)
    noise = np.random.default_rng(seed).normal(0, 0.05, size=(n, h * w, 3))
    flat = masks.reshape(n, h * w)
    pixels = (codes[np.where(flat == IGNORE, 0, flat)] + noise).astype(np.float32)
    per_image = (h // cell) * (w // cell)
    region = (np.arange(h)[:, None] // cell) * (w // cell) + np.arange(w)[None, :] // cell
    index = np.arange(n)[:, None, None] * per_image + region[None]
    return RegionSet(pixels, masks.astype(np.uint8), index, boxes_of(index, n * per_image))


def striped_masks(n: int, rare_image: int | None = None, rare_region: int = 0) -> np.ndarray:
    """[n, 4, 4] masks: class 0 on top, class 1 below; in ``rare_image`` the 2x2 region
    ``rare_region`` (0..3, raster order) is the rare class 2."""
    masks = np.zeros((n, 4, 4), np.uint8)
    masks[:, 2:] = 1
    if rare_image is not None:
        r, c = divmod(rare_region, 2)
        masks[rare_image, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2] = 2
    return masks
