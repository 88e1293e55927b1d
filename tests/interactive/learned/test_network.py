"""The shipped weights format: float16 on disk, float32 in memory, the method runs on it."""

from __future__ import annotations

import numpy as np
import torch

from al_loop.core.interactions import Click
from al_loop.interactive.learned.methods import ritm_clicks
from al_loop.interactive.learned.network import export_weights, load_weights, read_metadata
from tests.interactive.learned_fakes import tiny_weights


def scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
    image[10:30, 20:40] = (220, 40, 40)
    return image


def test_shipped_weights_are_float16_and_load_as_float32(tmp_path):
    trained = tiny_weights(tmp_path, "click")
    shipped = export_weights(trained, tmp_path / "shipped" / "ritm_clicks.pt", {"note": "x"})
    on_disk = torch.load(shipped, weights_only=True)
    floats = [v for v in on_disk.values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert shipped.stat().st_size < 0.6 * trained.stat().st_size

    original, _ = load_weights(trained)
    network, meta = load_weights(shipped)
    assert all(p.dtype == torch.float32 for p in network.parameters())
    for key, value in original.state_dict().items():
        expected = value.half().float() if value.is_floating_point() else value
        assert torch.equal(network.state_dict()[key], expected), key
    assert meta["note"] == "x" and meta["interaction"] == "click"
    assert read_metadata(shipped)["trained_on"] == []  # the record travels with the weights


def test_a_method_on_shipped_weights_predicts_as_on_the_trained_ones(tmp_path):
    trained = tiny_weights(tmp_path, "click", seed=3)
    shipped = export_weights(trained, tmp_path / "shipped" / "ritm_clicks.pt")
    image = scene()
    sessions = [ritm_clicks(weights=w).start(image) for w in (trained, shipped)]
    for session in sessions:
        session.add(Click(20, 30, True))
    a, b = (s.probabilities for s in sessions)
    assert a.shape == image.shape[:2] and a.dtype == np.float32
    assert np.abs(a - b).max() < 0.02


def test_export_in_place_keeps_the_metadata(tmp_path):
    weights = tiny_weights(tmp_path, "extreme_points")
    export_weights(weights, weights)
    assert torch.load(weights, weights_only=True)["guidance.scale"].dtype == torch.float16
    assert read_metadata(weights)["interaction"] == "extreme_points"


def test_folded_batch_norms_give_the_same_outputs_and_keep_the_guidance():
    from torch import nn

    from al_loop.interactive.learned.network import GUIDANCE_CHANNELS, build_network, fuse_batchnorm

    network = build_network((16, 16, 16, 16, 16), pretrained=False, seed=1)
    g = torch.Generator().manual_seed(0)
    for module in network.modules():  # statistics and affines far from the identity
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            module.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    network.eval()
    image = torch.rand(1, 3, 64, 96, generator=g) * 2 - 1
    guidance = torch.zeros(1, GUIDANCE_CHANNELS, 64, 96)
    guidance[:, 0, 20:30, 40:50] = 1.0
    with torch.inference_mode():
        before = network(image, guidance)
        no_click = network(image, torch.zeros_like(guidance))
        fuse_batchnorm(network)
        after = network(image, guidance)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in network.modules())
    assert torch.allclose(before, after, atol=1e-4 * before.abs().max().item())
    assert (before - no_click).abs().max() > 1e-3  # so the guidance's path is checked too
