import numpy as np
import pytest

from al_loop.interactive.learned.sampling import (
    boundary_distance,
    error_click,
    extreme_points,
    interior_point,
    opening_points,
    perturbed_mask,
    random_clicks,
)


def square(h=40, w=40, y0=10, x0=10, y1=30, x1=30) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_error_click_goes_deep_into_the_larger_missed_region():
    gt = square()
    pred = gt.copy()
    pred[10:30, 20:30] = False  # right half missed: 20x10 false negative
    pred[0:3, 0:3] = True  # a small false positive
    for seed in range(5):
        (y, x), positive = error_click(gt, pred, np.ones_like(gt), np.random.default_rng(seed))
        assert positive and gt[y, x] and not pred[y, x]
        depth = boundary_distance(gt & ~pred)
        assert depth[y, x] > depth.max() / 2  # the inner half, not the edge


def test_error_click_is_negative_on_a_larger_false_positive_and_none_when_right():
    gt = square()
    pred = gt | square(y0=0, y1=40, x0=30, x1=40)  # a 40x10 strip of background predicted
    (y, x), positive = error_click(gt, pred, np.ones_like(gt), np.random.default_rng(0))
    assert not positive and pred[y, x] and not gt[y, x]
    assert error_click(gt, gt, np.ones_like(gt), np.random.default_rng(0)) is None


def test_error_click_ignores_invalid_pixels():
    gt, pred = square(), np.zeros((40, 40), bool)
    valid = ~gt  # every error pixel ignored
    assert error_click(gt, pred, valid, np.random.default_rng(0)) is None


def test_random_clicks_put_positives_inside_and_negatives_near_outside():
    gt = square()
    for seed in range(10):
        positives, negatives = random_clicks(gt, np.ones_like(gt), np.random.default_rng(seed))
        assert 1 <= len(positives) <= 3 and len(negatives) <= 3
        assert all(gt[p] for p in positives)
        assert all(not gt[n] and boundary_distance(~gt)[n] > 5 for n in negatives)


def test_extreme_points_and_interior_point_of_a_known_shape():
    gt = square(y0=10, y1=31, x0=5, x1=26)  # 21 x 21
    top, bottom, left, right = extreme_points(gt)
    assert top == (10, 15) and bottom == (30, 15) and left == (20, 5) and right == (20, 25)
    assert interior_point(gt) == (20, 15)


@pytest.mark.parametrize("jitter", [0.0, 3.0])
def test_openings_have_the_shape_of_their_interaction(jitter):
    gt = square()
    rng = np.random.default_rng(0)
    positives, negatives = opening_points("extreme_points", gt, rng, jitter)
    assert len(positives) == 4 and negatives == []
    if jitter == 0:
        assert positives == [(10, 19), (29, 19), (19, 10), (19, 29)]  # medians of flat edges
    inside, corners = opening_points("inside_outside", gt, rng, jitter, margin=2)
    assert len(inside) == 1 and gt[inside[0]] and len(corners) == 2
    if jitter == 0:
        assert corners == [(8, 8), (31, 31)]  # 2 pixels outside the box, opposite corners
    with pytest.raises(ValueError):
        opening_points("polygon", gt, rng)


def test_perturbed_mask_is_wrong_but_overlaps_the_object():
    gt = square()
    for seed in range(5):
        wrong = perturbed_mask(gt, np.random.default_rng(seed))
        assert wrong.shape == gt.shape and not np.array_equal(wrong, gt)
        assert (wrong & gt).any()
