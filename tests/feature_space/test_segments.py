"""Segments of a pool: known regions of a hand-made image, unique ids, ground-truth purity."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.core.errors import DataError
from al_loop.data.base import IGNORE
from al_loop.feature_space.segments import (
    ground_truth_segments,
    majority_and_purity,
    pool_segments,
    segment_boxes,
    segment_class_counts,
)

RED, GREEN, BLUE = (220, 30, 30), (30, 220, 30), (30, 30, 220)


def three_regions(hw=(24, 32)) -> tuple[np.ndarray, np.ndarray]:
    """A flat image: left half red, right half green above blue; and its region map 0/1/2."""
    h, w = hw
    image = np.zeros((h, w, 3), np.uint8)
    regions = np.zeros((h, w), np.int32)
    image[:, : w // 2] = RED
    image[: h // 2, w // 2 :] = GREEN
    image[h // 2 :, w // 2 :] = BLUE
    regions[: h // 2, w // 2 :] = 1
    regions[h // 2 :, w // 2 :] = 2
    return image, regions


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label maps cut the pixels into the same regions (ids may differ)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


@pytest.mark.parametrize("criterion", ["volume", "area"])
def test_flat_regions_are_recovered_exactly(criterion):
    image, regions = three_regions()
    segments, segment_image = pool_segments(image[None], criterion, threshold=50.0, sigma=0)
    assert segments.shape == (1, *regions.shape) and segments.dtype == np.int32
    assert same_partition(segments[0], regions)
    assert segment_image.tolist() == [0, 0, 0]


def test_ids_are_unique_and_consecutive_across_images():
    image, regions = three_regions()
    flipped = image[:, ::-1].copy()
    segments, segment_image = pool_segments(np.stack([image, flipped]), threshold=50.0, sigma=0)
    assert sorted(np.unique(segments[0])) == [0, 1, 2]
    assert sorted(np.unique(segments[1])) == [3, 4, 5]
    assert segment_image.tolist() == [0, 0, 0, 1, 1, 1]
    assert same_partition(segments[1], regions[:, ::-1])


def test_num_regions_overrides_the_threshold():
    image, _ = three_regions()
    segments, _ = pool_segments(image[None], threshold=0.5, num_regions=1, sigma=0)
    assert len(np.unique(segments)) == 1


def test_boxes_of_hand_made_segments():
    segments = np.array([[[0, 0, 1], [2, 2, 1]], [[3, 3, 3], [3, 3, 3]]], np.int32)
    assert segment_boxes(segments).tolist() == [
        [0, 0, 1, 2],
        [0, 2, 2, 3],
        [1, 0, 2, 2],
        [0, 0, 2, 3],
    ]


def test_class_counts_majority_and_purity():
    segments = np.array([[[0, 0, 1, 1], [0, 0, 1, 2]]], np.int32)
    masks = np.array([[[0, 0, 1, 1], [0, 1, 0, IGNORE]]], np.uint8)
    counts = segment_class_counts(segments, masks, num_classes=2)
    assert counts.tolist() == [[3, 1], [1, 2], [0, 0]]
    majority, purity = majority_and_purity(counts)
    assert majority.tolist() == [0, 1, IGNORE]
    assert purity == pytest.approx([0.75, 2 / 3, 1.0])


def test_bad_input_is_a_one_line_data_error():
    with pytest.raises(DataError, match="uint8 images"):
        pool_segments(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(DataError, match="class ids"):
        segment_class_counts(np.zeros((1, 2, 2), np.int32), np.full((1, 2, 2), 5, np.uint8), 2)
    with pytest.raises(DataError, match="segments"):
        segment_class_counts(np.zeros((1, 2, 2), np.int32), np.zeros((1, 2, 3), np.uint8), 2)


def test_ground_truth_segments_are_the_connected_parts_of_each_class():
    """Image 0: class 1 in two separate squares on class 0 (3 parts); image 1: all class 0 with
    an IGNORE stripe cutting it in two (3 parts). The majority labels reproduce the masks exactly."""
    masks = np.zeros((2, 10, 12), np.uint8)
    masks[0, 1:4, 1:4] = 1
    masks[0, 6:9, 7:11] = 1
    masks[1, :, 5] = IGNORE
    segments, segment_image = ground_truth_segments(masks)
    assert segment_image.tolist() == [0, 0, 0, 1, 1, 1]
    assert sorted(np.unique(segments[0])) == [0, 1, 2]
    assert sorted(np.unique(segments[1])) == [3, 4, 5]
    majority, purity = majority_and_purity(segment_class_counts(segments, masks, 2))
    assert (purity == 1).all()
    rebuilt = majority[segments]
    assert (rebuilt == masks).all()  # IGNORE parts have no labelled pixel: majority IGNORE
    assert segments[0, 2, 2] != segments[0, 7, 8]  # the two squares are two segments


def test_ground_truth_segments_need_a_stack_of_masks():
    with pytest.raises(DataError, match="masks"):
        ground_truth_segments(np.zeros((4, 4), np.uint8))


def test_ground_truth_specks_join_the_nearest_large_segment():
    """A 1-pixel class-1 speck inside class 0 and a 2x2 class-1 square: with min_area 3 the
    speck joins the background segment around it; the square stays a segment of its own."""
    masks = np.zeros((1, 8, 8), np.uint8)
    masks[0, 1, 1] = 1
    masks[0, 4:6, 4:6] = 1
    exact, _ = ground_truth_segments(masks)
    assert len(np.unique(exact)) == 3
    segments, segment_image = ground_truth_segments(masks, min_area=3)
    assert segment_image.tolist() == [0, 0]
    assert segments[0, 1, 1] == segments[0, 0, 0]
    assert segments[0, 4, 4] != segments[0, 0, 0]
    assert (segments[0, 4:6, 4:6] == segments[0, 4, 4]).all()
