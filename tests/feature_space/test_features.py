"""Segment crops (square window, outside zeroed) and their features through an encoder."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.feature_space.features import (
    ProbabilityMaps,
    lite0_encoder,
    mask_pooled_features,
    segment_crop,
    segment_features,
    segment_statistics,
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


def test_segment_statistics_give_colour_and_place():
    """One 4x8 image: left half black (segment 0), right half white (segment 1)."""
    image = np.zeros((1, 4, 8, 3), np.uint8)
    image[0, :, 4:] = 255
    segments = np.zeros((1, 4, 8), np.int32)
    segments[0, :, 4:] = 1
    stats = segment_statistics(image, segments, 2)
    assert stats.shape == (2, 11)
    assert stats[0, 0] == pytest.approx(0.0) and stats[1, 0] == pytest.approx(1.0)  # L mean
    assert stats[:, 1] == pytest.approx([0.0, 0.0])  # uniform colour: no spread
    assert stats[:, 6] == pytest.approx([1.5 / 4, 1.5 / 4])  # centroid row / height
    assert stats[:, 7] == pytest.approx([1.5 / 8, 5.5 / 8])  # centroid column / width
    assert stats[:, 8:10] == pytest.approx(np.array([[1.0, 0.5], [1.0, 0.5]]))  # box height, width
    assert stats[:, 10] == pytest.approx([np.sqrt(0.5)] * 2)


def test_mask_pooled_features_average_the_cells_of_each_segment():
    """A 2-channel 2x4 map under a 4x8 image: segment 0 the left half, segment 1 the right
    half except one pixel, segment 2 that pixel (no cell of its own: its cell's value)."""
    maps = np.arange(16, dtype=np.float32).reshape(1, 2, 2, 4)
    segments = np.zeros((1, 4, 8), np.int32)
    segments[0, :, 4:] = 1
    segments[0, 3, 7] = 2
    pooled = mask_pooled_features(maps, segments, 3)
    assert pooled[0] == pytest.approx([maps[0, 0, :, :2].mean(), maps[0, 1, :, :2].mean()])
    assert pooled[1] == pytest.approx([maps[0, 0, :, 2:].mean(), maps[0, 1, :, 2:].mean()])
    assert pooled[2] == pytest.approx(maps[0, :, 1, 3])


class FixedProbabilities:
    """A segmenter stand-in whose probabilities are given, with a weights version."""

    weights_version = 3
    trained = True

    def feature_maps(self, images):
        return [np.ones((len(images), 5, 2, 3), np.float32)]

    def __init__(self, probs):
        self.probs = probs

    def predict_proba(self, images):
        assert len(images) == len(self.probs)
        return self.probs


def test_probability_maps_are_the_segmenters_probabilities_pooled_by_segment():
    probs = np.zeros((1, 2, 4, 6), np.float32)
    probs[0, 0, :, :3], probs[0, 1, :, 3:] = 1.0, 1.0  # class 0 left, class 1 right
    probs[0, :, 0, 0] = [0.5, 0.5]  # one uncertain pixel
    adapter = ProbabilityMaps(FixedProbabilities(probs))
    (maps,) = adapter.feature_maps(np.zeros((1, 4, 6, 3), np.uint8))
    assert np.array_equal(maps, probs)
    assert adapter.weights_version == 3  # kept maps go stale when the segmenter trains
    segments = np.zeros((1, 4, 6), np.int64)
    segments[0, :, 2:] = 1  # column 2 (class 0) falls in segment 1
    pooled = mask_pooled_features(maps, segments, 2)
    assert np.allclose(pooled, [[7.5 / 8, 0.5 / 8], [4 / 16, 12 / 16]])


def test_probability_maps_of_an_untrained_segmenter_are_its_encoder_maps():
    """Before the first fit the decoder is random: the encoder's maps stand in."""
    probs = np.full((1, 2, 4, 6), 0.5, np.float32)
    segmenter = FixedProbabilities(probs)
    segmenter.trained = False
    (maps,) = ProbabilityMaps(segmenter).feature_maps(np.zeros((1, 4, 6, 3), np.uint8))
    assert maps.shape == (1, 5, 2, 3)
    segmenter.trained = True
    (maps,) = ProbabilityMaps(segmenter).feature_maps(np.zeros((1, 4, 6, 3), np.uint8))
    assert np.array_equal(maps, probs)
