"""Phase two of RALis: the trained query network chooses regions of the target pool.

The state is the region descriptors of ``state_images`` pool images (a fixed draw, the same every
round: the paper's D_S). Regions are picked one at a time, each the best by Q of a fresh random
sub-pool of ``pool_size`` candidates (as the agent acted in training), with the regions picked
so far this round counted as labelled for the KL features; the picks are returned best Q first.
"""

from __future__ import annotations

import numpy as np
import torch

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import Ranked, SelectionContext
from strategies.ralis.config import parse_ralis_params
from strategies.ralis.dqn import load_policy
from strategies.ralis.env import unit_boxes
from strategies.ralis.features import action_features, region_descriptors

STATE_SEED = 20200426  # D_S is one fixed draw of the pool, identical in every round
IMAGES_PER_CHUNK = 64


class RalisStrategy:
    name = "ralis"

    def __init__(self, **params):
        self.params = parse_ralis_params(params)
        self.network, self.meta = load_policy(self.params.policy)
        self.pool_size = self.params.pool_size or int(self.meta["pool_size"])
        self.state_images = self.params.state_images or int(self.meta["state_images"])

    def descriptors(self, ctx: SelectionContext) -> np.ndarray:
        """[len(units()), R] region descriptors of the whole pool, streamed over images (the
        units of consecutive images are consecutive in every unit space)."""
        probs = ctx.probabilities()
        if probs.shape[1] != self.meta["num_classes"]:
            raise ConfigError(
                f"strategy.params.policy: trained for {self.meta['num_classes']} classes, the "
                f"pool has {probs.shape[1]}"
            )
        boxes = unit_boxes(ctx.unit_space)
        chunks = []
        for start in range(0, len(ctx.pool), IMAGES_PER_CHUNK):
            images = np.arange(start, min(start + IMAGES_PER_CHUNK, len(ctx.pool)))
            index = ctx.unit_space.pixel_unit_index(images)
            first, last = int(index.min()), int(index.max()) + 1
            chunks.append(
                region_descriptors(
                    probs[images], index - first, boxes[first:last], self.meta["grid"]
                )
            )
        return np.concatenate(chunks)

    def rank(self, ctx: SelectionContext, count: int) -> Ranked:
        all_units = ctx.unit_space.units()
        descriptors = self.descriptors(ctx)
        num_classes, bins = int(self.meta["num_classes"]), int(self.meta["kl_bins"])
        state_images = np.random.default_rng(STATE_SEED).choice(
            len(ctx.pool), size=min(self.state_images, len(ctx.pool)), replace=False
        )
        in_state = np.isin([u.image for u in all_units], state_images)
        state = torch.from_numpy(descriptors[in_state])[None]
        known = [i for i, u in enumerate(all_units) if u in ctx.labelled]
        remaining = [i for i, u in enumerate(all_units) if u not in ctx.labelled]
        picks: list[tuple[float, int]] = []
        with torch.no_grad():
            code = self.network.encode_state(state)
            while remaining and len(picks) < count:
                drawn = ctx.rng.choice(
                    len(remaining), size=min(self.pool_size, len(remaining)), replace=False
                )
                pool = np.array([remaining[j] for j in drawn])
                labelled = descriptors[known + [i for _, i in picks], :num_classes]
                actions = action_features(descriptors[pool], labelled, num_classes, bins)
                q = self.network.score(code, torch.from_numpy(actions)[None])[0].numpy()
                best = int(np.argmax(q))
                picks.append((float(q[best]), int(pool[best])))
                remaining.remove(int(pool[best]))
        picks.sort(key=lambda p: -p[0])  # stable: equal Q keeps pick order
        return Ranked([all_units[i] for _, i in picks], [q for q, _ in picks])
