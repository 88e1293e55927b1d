import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.segments import (
    HIERARCHIES,
    classes_in,
    hierarchical_segments,
    majority_labels,
    relabel_consecutive,
)


def four_quadrants() -> np.ndarray:
    """A 40x40 image of four flat colours: the segments must be exactly the quadrants."""
    img = np.zeros((40, 40, 3), dtype=np.uint8)
    img[:20, 20:] = (200, 0, 0)
    img[20:, :20] = (0, 200, 0)
    img[20:, 20:] = (0, 0, 200)
    return img


@pytest.mark.parametrize("criterion", sorted(HIERARCHIES))
def test_four_flat_regions_are_recovered(criterion):
    labels = hierarchical_segments(four_quadrants(), criterion=criterion, num_regions=4, sigma=0)
    assert labels.dtype == np.int32 and labels.shape == (40, 40)
    assert len(np.unique(labels)) == 4
    for ys, xs in [
        (slice(0, 20), slice(0, 20)),
        (slice(0, 20), slice(20, 40)),
        (slice(20, 40), slice(0, 20)),
    ]:
        assert len(np.unique(labels[ys, xs])) == 1


def test_area_threshold_merges_small_regions():
    img = four_quadrants()
    img[5:8, 5:8] = 255  # a 9-pixel speck
    fine = hierarchical_segments(img, threshold=1, sigma=0)
    coarse = hierarchical_segments(img, threshold=50, sigma=0)
    assert len(np.unique(coarse)) == 4 < len(np.unique(fine))


def test_relabel_consecutive_is_raster_ordered():
    assert relabel_consecutive(np.array([[7, 7, 3], [3, 9, 9]])).tolist() == [[0, 0, 1], [1, 2, 2]]


def test_majority_labels_skip_ignore():
    segments = np.array([[0, 0, 1, 1], [2, 2, 2, 2]])
    mask = np.array([[1, 1, 255, 255], [0, 0, 2, 0]], dtype=np.uint8)
    assert majority_labels(segments, mask, 3).tolist() == [1, 255, 0]


def test_exactly_one_cut_parameter():
    with pytest.raises(ConfigError, match="exactly one"):
        hierarchical_segments(four_quadrants())
    with pytest.raises(ConfigError, match="area, dynamics, volume"):
        hierarchical_segments(four_quadrants(), criterion="x", threshold=1)


def test_classes_in_counts_up_to_the_largest_id_and_skips_ignore():
    masks = np.array([[0, 2, 255], [255, 1, 0]], np.uint8)
    assert classes_in(masks) == 3
    assert classes_in(np.full((2, 2), 255, np.uint8)) == 1
