"""Window fit: covers of the labelled pixels, whole-image fallback, the segmenter on windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from al_loop.core.errors import ConfigError
from al_loop.data.base import IGNORE
from al_loop.models.segmenter import make_segmenter
from al_loop.models.windows import (
    WindowSpec,
    cover_windows,
    crop_windows,
    make_window_spec,
    plan_epoch,
)
from tests.fakes import make_toy_data


def sparse_labels(n=4, hw=(96, 128), seed=0) -> np.ndarray:
    """A few labelled 8x8 patches (classes 0..2) per image, the rest IGNORE; image 1 unlabelled."""
    rng = np.random.default_rng(seed)
    labels = np.full((n, *hw), IGNORE, np.uint8)
    for i in range(n):
        if i == 1:
            continue
        for _ in range(3):
            y, x = rng.integers(0, hw[0] - 8), rng.integers(0, hw[1] - 8)
            labels[i, y : y + 8, x : x + 8] = rng.integers(0, 3)
    return labels


def covered(labels: np.ndarray, windows: np.ndarray, shape) -> np.ndarray:
    mask = np.zeros(labels.shape, bool)
    for i, t, s in windows:
        mask[i, t : t + shape[0], s : s + shape[1]] = True
    return mask


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("spec", [WindowSpec(32), WindowSpec(64, context=8), WindowSpec(32, 0)])
def test_a_cover_holds_every_labelled_pixel_and_each_window_holds_one(seed, spec):
    labels = sparse_labels(seed=seed)
    shape = spec.shape(labels.shape[1:])
    windows = cover_windows(labels, spec, np.random.default_rng(seed))
    assert covered(labels, windows, shape)[labels != IGNORE].all()
    h, w = labels.shape[1:]
    for i, t, s in windows:
        assert 0 <= t <= h - shape[0] and 0 <= s <= w - shape[1]  # inside the image
        assert (labels[i, t : t + shape[0], s : s + shape[1]] != IGNORE).any()
    assert 1 not in windows[:, 0]  # the unlabelled image gets no window


def test_the_centre_pixel_keeps_its_context_away_from_the_border():
    labels = np.full((1, 200, 200), IGNORE, np.uint8)
    labels[0, 100, 100] = 1  # one pixel: one window, placed on it
    for seed in range(20):
        ((_, t, s),) = cover_windows(
            labels, WindowSpec(64, context=20), np.random.default_rng(seed)
        )
        assert 20 <= 100 - t <= 63 - 20 and 20 <= 100 - s <= 63 - 20


def test_a_labelled_pixel_at_the_border_gets_a_window_flush_with_it():
    labels = np.full((1, 100, 100), IGNORE, np.uint8)
    labels[0, 0, 99] = 2
    ((_, t, s),) = cover_windows(labels, WindowSpec(32), np.random.default_rng(0))
    assert (t, s) == (0, 100 - 32)


def test_covers_are_deterministic_for_a_seed_and_vary_with_it():
    labels = sparse_labels()
    spec = WindowSpec(32)
    a = cover_windows(labels, spec, np.random.default_rng(5))
    b = cover_windows(labels, spec, np.random.default_rng(5))
    c = cover_windows(labels, spec, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_images_labelled_all_over_are_trained_whole():
    labels = sparse_labels()
    labels[2] = 1  # labelled everywhere: a cover would hold more pixels than the image
    windows, whole = plan_epoch(labels, WindowSpec(32), np.random.default_rng(0))
    assert whole.tolist() == [2]
    assert sorted(set(windows[:, 0].tolist())) == [0, 3]
    # an image no larger than a window is trained whole, too
    small = np.zeros((2, 32, 32), np.uint8)
    windows, whole = plan_epoch(small, WindowSpec(64), np.random.default_rng(0))
    assert len(windows) == 0 and whole.tolist() == [0, 1]


def test_crops_are_the_windows_pixels():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, (2, 40, 50), dtype=np.uint8)
    x, y = crop_windows(images, labels, np.array([[1, 3, 7], [0, 0, 18]]), (32, 32))
    assert x.shape == (2, 32, 32, 3) and y.shape == (2, 32, 32)
    assert np.array_equal(x[0], images[1, 3:35, 7:39])
    assert np.array_equal(y[1], labels[0, 0:32, 18:50])


@pytest.mark.parametrize(
    "windows, match",
    [
        ({"size": 100}, "multiple of 32"),
        ({"size": 0}, "multiple of 32"),
        ({"size": 64, "context": 32}, "context must be in"),
        ({"size": 64, "context": -1}, "context must be in"),
        ({"size": 64, "margin": 3}, "unknown keys"),
    ],
)
def test_bad_window_settings_are_config_errors(windows, match):
    with pytest.raises(ConfigError, match=match):
        make_window_spec(windows)
    with pytest.raises(ConfigError, match=match):
        make_segmenter(num_classes=3, windows=windows)


# ---------------------------------------------------------------- the segmenter on windows


def tiny(**overrides):
    config = dict(num_classes=3, epochs=2, batch_size=4, lr=1e-3, windows={"size": 32})
    config.update(overrides)
    return make_segmenter(**config)


@pytest.fixture(scope="module")
def toy():
    data = make_toy_data(n=6, hw=(64, 96), seed=0)
    labels = np.full(data.masks.shape, IGNORE, np.uint8)
    labels[:, 8:20, 40:52] = data.masks[:, 8:20, 40:52]  # one labelled 12x12 cell per image
    labels[3] = data.masks[3]  # and one image labelled everywhere
    return data, labels


def input_shapes(seg) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    seg.model.register_forward_pre_hook(lambda _, args: shapes.append(tuple(args[0].shape)))
    return shapes


def test_a_window_fit_feeds_windows_and_the_whole_images_labelled_all_over(toy):
    data, labels = toy
    seg = tiny(warm_start=True)  # fit goes on with the model the hook is on
    seg.reset(0)
    shapes = input_shapes(seg)
    report = seg.fit(data.images, labels, seed=0)
    assert {s[2:] for s in shapes} == {(32, 32), (64, 96)}
    assert sum(s[0] for s in shapes if s[2:] == (64, 96)) == 2  # image 3, once per epoch
    assert report["steps"] == len(shapes)


def test_a_window_fit_is_deterministic_for_a_seed(toy):
    data, labels = toy
    states = []
    for seed in (0, 0, 1):
        seg = tiny(warm_start=True)
        seg.fit(data.images, labels, seed=seed)
        seg.fit(data.images, labels, seed=seed + 10)  # warm: a second fit goes on from the first
        states.append([v.clone() for v in seg.model.state_dict().values()])
    assert all(torch.equal(a, b) for a, b in zip(states[0], states[1], strict=True))
    assert not all(torch.equal(a, c) for a, c in zip(states[0], states[2], strict=True))


def test_min_steps_counts_window_steps(toy):
    data, labels = toy
    report = tiny(epochs=1, min_steps=7).fit(data.images, labels, seed=0)
    assert report["steps"] >= 7


def test_bf16_autocast_trains_and_repeats(toy):
    data, labels = toy
    a = tiny(bf16=True, epochs=1)
    b = tiny(bf16=True, epochs=1)
    ra, rb = a.fit(data.images, labels, seed=0), b.fit(data.images, labels, seed=0)
    assert np.isfinite(ra["loss"]) and ra == rb
    assert np.array_equal(a.predict(data.images), b.predict(data.images))
    assert tiny().config()["windows"] == {"size": 32, "context": None}
