import numpy as np
import pytest
import torch
import torch.nn.functional as F

from strategies.ralis import encoder as enc
from strategies.ralis.encoder import (
    cached_features,
    encode,
    fit_projection,
    project,
)


class StageStub(torch.nn.Module):
    """Encoder outputs at strides 1..32 with 1, 2, 3, 4, 5, 6 channels: the mean colour."""

    def forward(self, x):
        return [
            F.avg_pool2d(x.mean(1, keepdim=True), 2**k).expand(-1, k + 1, -1, -1) for k in range(6)
        ]


def test_encode_stacks_stages_4_to_32_at_stride_4_cropped_to_the_image():
    images = np.full((3, 40, 52, 3), 255, np.uint8)
    features = encode(images, StageStub())
    assert features.dtype == np.float16
    assert features.shape == (3, 3 + 4 + 5 + 6, 10, 13)
    assert np.allclose(features.astype(np.float32), 1.0, atol=1e-2)  # 255 -> 1 after [-1, 1]


def test_features_are_encoded_once_then_read_from_the_cache(tmp_path, monkeypatch):
    calls = []

    def fake_encode(images, encoder):
        calls.append(len(images))
        return np.ones((len(images), 2, 1, 1), np.float16)

    monkeypatch.setattr(enc, "encode", fake_encode)
    monkeypatch.setattr(enc, "lite0_encoder", lambda: None)
    images = np.zeros((2, 4, 4, 3), np.uint8)
    first = cached_features(images, tmp_path)
    second = cached_features(images, tmp_path)
    assert calls == [2] and np.array_equal(first, second)
    cached_features(images + 1, tmp_path)  # other pixels: another key
    assert calls == [2, 2] and len(list(tmp_path.glob("*.npy"))) == 2


def test_projection_whitens_the_pixels_and_repeats():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(5, 5)) * np.array([10.0, 3.0, 1.0, 0.5, 0.1])
    features = (rng.normal(size=(4, 32, 5)) @ mixing).reshape(4, 8, 4, 5).transpose(0, 3, 1, 2)
    mean, matrix = fit_projection(features, dims=3)
    projected = project(features, mean, matrix).reshape(-1, 3)
    assert projected.shape == (4 * 32, 3)
    assert np.allclose(np.cov(projected, rowvar=False), np.eye(3), atol=1e-2)
    again = fit_projection(features, dims=3)
    assert np.array_equal(again[1], matrix)
    with pytest.raises(ValueError):
        project(features[:, :4], mean, matrix)
