"""Superpixel units (al_loop.core.units.SuperpixelUnits) on images whose segments are known."""

import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.units import SuperpixelUnits, Unit, make_unit_space
from strategies.reduce import reduce_to_units


def known_image():
    """20x30, flat colours: an L-shaped region (value 200) on a background (value 20), and a
    3x4 block (value 120) in the background's corner."""
    image = np.full((20, 30, 3), 20, np.uint8)
    image[2:18, 2:6] = 200  # the L's stem
    image[14:18, 2:20] = 200  # the L's foot
    image[0:3, 26:30] = 120
    return image


def test_segments_of_a_known_hierarchy_become_units_with_tight_boxes_and_masks():
    images = np.stack([known_image(), known_image()[:, ::-1]])
    space = SuperpixelUnits(2, (20, 30), images, threshold=5, sigma=0)
    assert space.counts.tolist() == [3, 3]
    assert space.units() == [Unit(i, r) for i in range(2) for r in range(3)]
    # ids follow the raster order of each segment's first pixel: background, block, L
    boxes = [space.box(u) for u in space.units()[:3]]
    assert boxes == [(0, 0, 20, 30), (0, 26, 3, 30), (2, 2, 18, 20)]
    mask = space.mask(Unit(0, 2))
    expected = np.zeros((16, 18), bool)
    expected[:, :4] = True
    expected[12:16, :] = True
    assert np.array_equal(mask, expected)
    index = space.pixel_unit_index(np.array([1]))
    assert sorted(np.unique(index).tolist()) == [3, 4, 5]  # image 1's units follow image 0's


def test_reducing_pixel_scores_to_superpixels():
    images = known_image()[None]
    space = SuperpixelUnits(1, (20, 30), images, threshold=5, sigma=0)
    scores = (images[..., 0] == 120).astype(float)  # only the block scores
    unit_scores = reduce_to_units(scores, space.pixel_unit_index(np.arange(1)), 3, "mean")
    assert unit_scores.tolist() == [0.0, 1.0, 0.0]


def test_a_higher_threshold_merges_segments():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    fine = SuperpixelUnits(1, (32, 32), images, threshold=10)
    coarse = SuperpixelUnits(1, (32, 32), images, threshold=200)
    assert fine.counts[0] > coarse.counts[0] >= 1


def test_superpixels_need_the_pool_images():
    with pytest.raises(ConfigError, match="pool images"):
        make_unit_space("superpixel", 1, (8, 8))
    with pytest.raises(ConfigError, match="superpixels need"):
        make_unit_space("superpixel", 2, (8, 8), images=np.zeros((1, 8, 8, 3), np.uint8))
