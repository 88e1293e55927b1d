"""Tiny untrained guided networks saved as weights files, for fast method tests."""

from __future__ import annotations

from pathlib import Path

from al_loop.interactive.learned.network import build_network, save_weights

TINY_DECODER = (16, 16, 16, 16, 16)


def tiny_geometry(interaction: str) -> dict:
    return {
        "interaction": interaction,
        "long_side": 64,
        "crop_size": 64,
        "margin_fraction": 0.1,
        "min_margin": 4.0,
        "radius": 3.0,
        "sigma": 3.0,
        "decoder_channels": list(TINY_DECODER),
        "trained_on": [],  # untrained: it saw no image (the leakage guard reads this)
    }


def tiny_weights(folder: Path, interaction: str, seed: int = 0) -> Path:
    """An untrained (random encoder) network's weights for ``interaction`` in ``folder``."""
    network = build_network(TINY_DECODER, pretrained=False, seed=seed)
    return save_weights(network, folder / f"{interaction}.pt", tiny_geometry(interaction))
