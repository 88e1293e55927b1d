"""Box selection geometry, segment labels to pixels, and splitting a segment with seeds."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.core.errors import DataError
from al_loop.data.base import IGNORE
from al_loop.feature_space.labelling import propagate_labels, select_in_box, split_segment

COORDS = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [1.0, 3.0], [-1.0, 1.0]])


def test_box_selects_the_points_inside_and_on_the_border():
    assert select_in_box(COORDS, 0, 0, 2, 1).tolist() == [True, True, True, False, False]


@pytest.mark.parametrize("corners", [(2, 1, 0, 0), (0, 1, 2, 0), (2, 0, 0, 1)])
def test_box_corners_may_come_in_any_order(corners):
    assert select_in_box(COORDS, *corners).tolist() == [True, True, True, False, False]


def test_degenerate_and_empty_boxes():
    assert select_in_box(COORDS, 1, 1, 1, 1).tolist() == [False, True, False, False, False]
    assert not select_in_box(COORDS, 5, 5, 6, 6).any()
    assert select_in_box(np.zeros((0, 2)), 0, 0, 1, 1).shape == (0,)


def test_box_selection_is_pure():
    coords = COORDS.copy()
    select_in_box(coords, 0, 0, 2, 1)
    np.testing.assert_array_equal(coords, COORDS)
    with pytest.raises(ValueError, match=r"\[S,2\]"):
        select_in_box(np.zeros((3, 3)), 0, 0, 1, 1)


def test_labels_propagate_to_every_pixel_of_their_segment():
    segments = np.array([[[0, 0, 1], [2, 2, 1]], [[3, 3, 4], [3, 4, 4]]], np.int32)
    labels = np.array([1, 0, IGNORE, 2, 1], np.uint8)
    pixels = propagate_labels(segments, labels)
    assert pixels.dtype == np.uint8
    assert pixels.tolist() == [[[1, 1, 0], [IGNORE, IGNORE, 0]], [[2, 2, 1], [2, 1, 1]]]


def test_propagation_rejects_missing_labels_and_bad_ids():
    segments = np.array([[[0, 1], [2, 3]]], np.int32)
    with pytest.raises(DataError, match="segment id 3"):
        propagate_labels(segments, np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="negative"):
        propagate_labels(segments - 1, np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="class ids"):
        propagate_labels(segments, np.array([0, 1, 2, 300]))


def two_part_segment():
    """A 10x12 crop: the segment is all but the last column; a strong edge at x = 6."""
    gradient = np.zeros((10, 12), np.float32)
    gradient[:, 5:7] = 100.0
    inside = np.ones((10, 12), bool)
    inside[:, 11] = False
    return gradient, inside


def test_split_follows_the_gradient_inside_the_segment():
    gradient, inside = two_part_segment()
    split = split_segment(gradient, inside, [(5, 1, 1), (5, 9, 0)])
    assert (split[:, :5] == 1).all()
    assert (split[:, 7:11] == 0).all()
    assert (split[:, 11] == IGNORE).all()  # outside the segment
    assert set(np.unique(split[inside])) == {0, 1}


def test_one_seed_labels_the_whole_segment_and_none_labels_nothing():
    gradient, inside = two_part_segment()
    assert (split_segment(gradient, inside, [(0, 0, 3)])[inside] == 3).all()
    assert (split_segment(gradient, inside, []) == IGNORE).all()


def test_split_does_not_flood_across_the_outside():
    gradient = np.zeros((6, 9), np.float32)
    inside = np.ones((6, 9), bool)
    inside[:, 4] = False  # two parts joined only through pixels outside the segment
    split = split_segment(gradient, inside, [(2, 1, 1)])
    assert (split[:, :4] == 1).all()
    assert (split[:, 5:] == IGNORE).all()  # reached by no seed through the segment


def test_seed_outside_the_segment_is_refused():
    gradient, inside = two_part_segment()
    with pytest.raises(ValueError, match="not inside"):
        split_segment(gradient, inside, [(0, 11, 1)])
