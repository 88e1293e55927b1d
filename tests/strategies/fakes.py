"""Fast stand-ins for what the strategies of this package ask of a segmenter and a policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from strategies.ralis.dqn import save_policy
from strategies.ralis.features import action_size, descriptor_size
from strategies.ralis.network import QNetwork
from tests.fakes import CentroidSegmenter


class McSegmenter(CentroidSegmenter):
    """CentroidSegmenter with MC-dropout-like samples (seeded noise on the class means) and
    per-pixel features (the colour itself)."""

    def predict_proba_samples(self, images, samples, seed):
        rng = np.random.default_rng(seed)
        means = self.means
        out = []
        for _ in range(samples):
            self.means = means + rng.normal(0, 20.0, size=means.shape)
            out.append(self.predict_proba(images))
        self.means = means
        return np.stack(out)

    def pixel_features(self, images):
        return images.astype(np.float32).transpose(0, 3, 1, 2) / 255.0


def write_policy(
    path: Path, num_classes: int = 3, grid: int = 2, kl_bins: int = 4, seed=0, action=None
):
    """An untrained (seeded) policy file with the meta the ralis strategy reads (``action``:
    another action size, as a policy of older features has)."""
    torch.manual_seed(seed)
    region = descriptor_size(num_classes, grid)
    action = action or action_size(num_classes, grid, kl_bins)
    meta = {
        "region_size": region,
        "action_size": action,
        "hidden": 16,
        "num_classes": num_classes,
        "grid": grid,
        "kl_bins": kl_bins,
        "pool_size": 5,
        "state_images": 2,
        "unit_kind": "grid",
    }
    save_policy(QNetwork(region, action, 16), meta, path)
    return path
