"""Segment crops (square window, outside zeroed) and their features through an encoder."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.feature_space.features import (
    lite0_encoder,
    segment_crop,
    segment_features,
    square_window,
)


def mean_colour(crops: np.ndarray) -> np.ndarray:
    """A cheap encoder: the mean colour of the non-zero pixels of each crop."""
    flat = crops.reshape(len(crops), -1, 3).astype(np.float32)
    lit = flat.sum(axis=-1, keepdims=True) > 0
    return (flat * lit).sum(axis=1) / np.maximum(lit.sum(axis=1), 1)


def test_square_window_is_centred_and_grown_by_the_margin():
    assert square_window(np.array([10, 20, 20, 40]), margin=0.0) == (5, 20, 20)
    assert square_window(np.array([10, 20, 20, 40]), margin=0.25) == (0, 15, 30)


def test_crop_zeroes_the_outside_and_the_area_past_the_border():
    image = np.full((8, 8, 3), 100, np.uint8)
    inside = np.zeros((8, 8), bool)
    inside[0:4, 0:2] = True
    crop = segment_crop(image, inside, np.array([0, 0, 4, 2]), size=4, margin=0.0)
    assert crop.shape == (4, 4, 3) and crop.dtype == np.uint8
    # the 4x4 window is centred on the 4x2 box: one column left of the image, one beside it
    assert (crop[:, 0] == 0).all() and (crop[:, 3] == 0).all()
    assert (crop[:, 1:3] == 100).all()


def test_features_follow_the_segments_colours():
    image = np.zeros((1, 8, 8, 3), np.uint8)
    image[0, :, :4] = (200, 0, 0)
    image[0, :, 4:] = (0, 0, 200)
    segments = np.zeros((1, 8, 8), np.int32)
    segments[0, :, 4:] = 1
    features = segment_features(
        image, segments, np.array([0, 0]), mean_colour, size=8, margin=0.0, batch=1
    )
    assert features.shape == (2, 3) and features.dtype == np.float32
    np.testing.assert_allclose(features, [[200, 0, 0], [0, 0, 200]], atol=1)


def test_features_of_chosen_segments_only():
    image = np.zeros((2, 4, 4, 3), np.uint8)
    image[1] = 50
    segments = np.stack([np.zeros((4, 4), np.int32), np.ones((4, 4), np.int32)])
    features = segment_features(
        image, segments, np.array([0, 1]), mean_colour, ids=[1], size=4, margin=0.0
    )
    np.testing.assert_allclose(features, [[50, 50, 50]])


@pytest.mark.slow  # loads the shipped ImageNet weights (about a second)
def test_lite0_encoder_pools_320_channels_deterministically():
    encoder = lite0_encoder()
    crops = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    first, second = encoder(crops), encoder(crops)
    assert first.shape == (2, 320) and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    assert encoder(crops[:0]).shape == (0, 320)
    assert lite0_encoder() is encoder  # built once per process
