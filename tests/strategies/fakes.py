"""A fast stand-in for the policy the ralis strategy reads (the segmenter: tests.fakes)."""

from __future__ import annotations

from pathlib import Path

import torch

from strategies.ralis.dqn import save_policy
from strategies.ralis.features import action_size, descriptor_size
from strategies.ralis.network import QNetwork


def write_policy(path: Path, num_classes: int = 3, grid: int = 2, kl_bins: int = 4, seed=0):
    """An untrained (seeded) policy file with the meta the ralis strategy reads."""
    torch.manual_seed(seed)
    region, action = descriptor_size(num_classes, grid), action_size(num_classes, grid, kl_bins)
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
