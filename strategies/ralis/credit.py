"""Per-pick credit: which reward each of a step's K transitions (one per sub-pool) learns from.

The episode's return is always the true gain of the reward-set score; only the learning targets
differ. Measured on CamVid (README, RALis): the shared step reward mostly reflects how far the
episode has gone, and one pick's effect is a fraction of its spread.

- ``shared``: every pick of a step gets the step's reward (the paper).
- ``progress``: the step's reward minus a running mean of the reward at that step index, over
  past episodes. The baseline depends on the step index only, so the ranking of candidates
  within a step, the greedy policy's choice, is unchanged in expectation.
- ``marginal``: each pick gets its own marginal gain, the step's score minus the score of the
  same step without that region (``RegionEnv.step_with_marginals``: K more head fits a step).

Each credit is a small object with ``rewards(env, regions, step) -> (reward, per-pick rewards)``
and a ``state_dict`` of plain tensors, kept in the training checkpoint so a resumed run is exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from al_loop.core.errors import ConfigError

PROGRESS_RATE = 0.05  # the running mean's weight on a new episode once 20 have been seen


class SharedCredit:
    def rewards(self, env, regions: list[int], step: int) -> tuple[float, list[float]]:
        reward = env.step(regions)
        return reward, [reward] * len(regions)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class ProgressCredit:
    """Reward minus the mean reward at this step index: a plain mean over the first episodes,
    then an exponential one (``PROGRESS_RATE``) that follows the improving policy."""

    def __init__(self) -> None:
        self.mean = np.zeros(0)
        self.count = np.zeros(0, np.int64)

    def rewards(self, env, regions: list[int], step: int) -> tuple[float, list[float]]:
        reward = env.step(regions)
        if step >= len(self.mean):
            grow = step + 1 - len(self.mean)
            self.mean = np.concatenate([self.mean, np.zeros(grow)])
            self.count = np.concatenate([self.count, np.zeros(grow, np.int64)])
        baseline = self.mean[step] if self.count[step] else reward
        self.count[step] += 1
        self.mean[step] += max(PROGRESS_RATE, 1.0 / self.count[step]) * (reward - self.mean[step])
        return reward, [reward - baseline] * len(regions)

    def state_dict(self) -> dict:
        return {"mean": torch.from_numpy(self.mean.copy()), "count": torch.from_numpy(self.count)}

    def load_state_dict(self, state: dict) -> None:
        self.mean = state["mean"].numpy().copy()
        self.count = state["count"].numpy().copy()


class MarginalCredit(SharedCredit):
    def rewards(self, env, regions: list[int], step: int) -> tuple[float, list[float]]:
        return env.step_with_marginals(regions)


CREDITS: dict[str, Callable[[], SharedCredit | ProgressCredit]] = {
    "shared": SharedCredit,
    "progress": ProgressCredit,
    "marginal": MarginalCredit,
}


def make_credit(name: str) -> SharedCredit | ProgressCredit:
    if name not in CREDITS:
        raise ConfigError(f"training.credit: unknown '{name}'; valid: {sorted(CREDITS)}")
    return CREDITS[name]()
