import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.segments import (
    HIERARCHIES,
    classes_in,
    hierarchical_segments,
    image_gradient,
    majority_labels,
    mixed_gradient,
    probability_gradient,
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


def square_probabilities(size: int = 40) -> np.ndarray:
    """[2,H,W]: a model sure of an object square in the middle, background elsewhere."""
    fg = np.zeros((size, size), np.float32)
    fg[10:30, 10:30] = 1.0
    return np.stack([1.0 - fg, fg])


def test_probability_gradient_is_zero_where_the_model_is_sure_and_high_at_its_edge():
    grad = probability_gradient(square_probabilities())
    assert grad.shape == (40, 40)
    assert grad[20, 20] == 0 and grad[2, 2] == 0
    assert grad[20, 9:11].min() > 0 and grad[20, 29:31].min() > 0


def test_mixed_gradient_weights_the_two_on_one_scale():
    image_grad = np.random.default_rng(0).random((40, 40)).astype(np.float32) * 500
    learned = probability_gradient(square_probabilities())
    image_only, learned_only = (
        mixed_gradient(image_grad, learned, 0.0),
        mixed_gradient(image_grad, learned, 1.0),
    )
    np.testing.assert_allclose(image_only, image_grad / np.percentile(image_grad, 99), rtol=1e-5)
    np.testing.assert_allclose(learned_only, learned / np.percentile(learned, 99), rtol=1e-5)
    half = mixed_gradient(image_grad, learned, 0.5)
    np.testing.assert_allclose(half, 0.5 * image_only + 0.5 * learned_only, rtol=1e-5)
    with pytest.raises(ConfigError, match="weight"):
        mixed_gradient(image_grad, learned, 1.5)


def test_a_learned_boundary_cuts_an_object_the_image_does_not_show():
    """A textured image with no edge at the object: the image's gradient alone cannot find
    the square; mixed with the model's boundary, a 2-region cut returns it (up to a pixel of
    the 2-pixel ridge)."""
    rng = np.random.default_rng(0)
    image = rng.integers(100, 140, (40, 40, 3)).astype(np.uint8)
    probs = square_probabilities()
    truth = probs[1] > 0.5
    mixed = mixed_gradient(image_gradient(image), probability_gradient(probs), 0.5)
    ious = []
    for gradient in (image_gradient(image), mixed):
        labels = hierarchical_segments(image, "volume", num_regions=2, gradient=gradient)
        inside = labels == labels[20, 20]
        ious.append((inside & truth).sum() / (inside | truth).sum())
    assert ious[0] < 0.5 and ious[1] > 0.98
