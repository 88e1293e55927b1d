"""The mask geometry users and methods share: hand-made shapes, hand-computed answers."""

import numpy as np
import pytest

from al_loop.core.geometry import (
    bounding_box,
    encode_gt,
    error_distance,
    expand_box,
    extreme_points,
    fill_polygon,
    interior_point,
    largest_part_interior_point,
    split_gt,
)
from al_loop.data.base import IGNORE


def diamond() -> np.ndarray:
    yy, xx = np.mgrid[:20, :25]
    return np.abs(yy - 10) + np.abs(xx - 12) <= 5


def l_shape() -> np.ndarray:
    obj = np.zeros((30, 30), bool)
    obj[2:28, 2:8] = True  # a tall bar, 6 wide
    obj[18:28, 2:28] = True  # a wide foot, 10 high: the deepest point is in the foot
    return obj


def test_extreme_points_of_a_diamond_are_its_corners():
    assert extreme_points(diamond()) == ((5, 12), (15, 12), (10, 7), (10, 17))


def test_extreme_points_take_the_middle_of_a_flat_edge():
    obj = np.zeros((10, 10), bool)
    obj[2:6, 3:8] = True
    assert extreme_points(obj) == ((2, 5), (5, 5), (3, 3), (3, 7))


def test_box_and_interior_point():
    assert bounding_box(diamond()) == (5, 7, 16, 18)
    assert interior_point(diamond()) == (10, 12)
    y, x = interior_point(l_shape())
    assert 18 <= y < 28  # in the foot (10 high), not in the bar (6 wide)
    assert l_shape()[y, x]


@pytest.mark.parametrize("fn", [extreme_points, bounding_box, interior_point])
def test_geometry_of_an_empty_mask_is_a_clear_error(fn):
    with pytest.raises(ValueError, match="no object"):
        fn(np.zeros((5, 5), bool))


def test_interior_point_is_deepest_in_the_largest_part():
    region = np.zeros((9, 20), bool)
    region[1:8, 1:8] = True  # 7x7, centre (4, 4)
    region[0:3, 15:18] = True
    assert largest_part_interior_point(region) == (4, 4)


def test_ground_truth_encoding_round_trips_with_its_ignore_pixels():
    obj = np.array([[True, False], [True, True]])
    ignore = np.array([[False, True], [False, False]])
    encoded = encode_gt(obj, ignore)
    assert encoded.tolist() == [[1, IGNORE], [1, 1]]
    back, back_ignore = split_gt(encoded)
    assert (
        back.tolist() == [[True, False], [True, True]] and back_ignore.tolist() == ignore.tolist()
    )


def test_error_distance_counts_the_image_border_as_boundary():
    band = np.zeros((5, 5), bool)
    band[:, :2] = True
    assert error_distance(band)[2].tolist() == pytest.approx([1.0, 1.0, 0.0, 0.0, 0.0])


def test_a_filled_polygon_includes_its_boundary():
    square = fill_polygon((6, 6), [(1, 1), (1, 3), (3, 3), (3, 1)])
    assert np.argwhere(square).min(axis=0).tolist() == [1, 1]
    assert np.argwhere(square).max(axis=0).tolist() == [3, 3] and square.sum() == 9


def test_a_box_widened_into_a_crop_stays_in_the_image():
    assert expand_box((2, 3, 10, 12), 4, (12, 14)) == (0, 0, 12, 14)
    assert expand_box((5, 5, 6, 6), 1, (20, 20)) == (4, 4, 7, 7)
