import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.data import SYNTHETIC_CLASSES, SYNTHETIC_RARE_CLASS, make_synthetic


@pytest.fixture(scope="module")
def data200():
    return make_synthetic(200, seed=0)


def test_same_seed_gives_identical_arrays():
    a, b = make_synthetic(20, seed=3), make_synthetic(20, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert a.names == b.names


def test_different_seed_gives_different_arrays():
    a, b = make_synthetic(5, seed=0), make_synthetic(5, seed=1)
    assert not np.array_equal(a.images, b.images)
    assert not np.array_equal(a.masks, b.masks)


def test_a_smaller_dataset_is_a_prefix_of_a_larger_one():
    small, large = make_synthetic(4, seed=2), make_synthetic(9, seed=2)
    np.testing.assert_array_equal(small.images, large.images[:4])
    np.testing.assert_array_equal(small.masks, large.masks[:4])


def test_shapes_types_and_classes():
    data = make_synthetic(3, hw=(48, 80))
    assert data.images.shape == (3, 48, 80, 3) and data.images.dtype == np.uint8
    assert data.masks.shape == (3, 48, 80) and data.masks.dtype == np.uint8
    assert [c.name for c in data.classes] == ["background", "disc", "bar", "star"]
    assert data.classes[SYNTHETIC_RARE_CLASS].name == "star"
    assert len({c.color for c in SYNTHETIC_CLASSES}) == len(SYNTHETIC_CLASSES)


def test_all_classes_present_and_the_rare_one_is_rare(data200):
    freq = data200.class_frequencies()
    assert (freq > 0).all() and len(freq) >= 4
    assert 0 < freq[SYNTHETIC_RARE_CLASS] < 0.03
    assert freq[SYNTHETIC_RARE_CLASS] == freq.min()
    with_star = np.mean([(m == SYNTHETIC_RARE_CLASS).any() for m in data200.masks])
    assert 0.2 <= with_star <= 0.4


def colour_bayes_miou(train, test, bins: int = 16) -> float:
    """mIoU of the best pixel classifier that sees only the (quantised) colour of a pixel."""

    def keys(images):
        q = images.reshape(-1, 3).astype(np.int64) * bins // 256
        return (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]

    k = len(train.classes)
    table = np.bincount(keys(train.images) * k + train.masks.ravel(), minlength=bins**3 * k)
    pred = table.reshape(bins**3, k).argmax(axis=1)[keys(test.images)]
    truth = test.masks.ravel()
    ious = [
        ((pred == c) & (truth == c)).sum() / ((pred == c) | (truth == c)).sum() for c in range(k)
    ]
    return float(np.mean(ious))


def test_colour_alone_does_not_separate_classes(data200):
    # Shape and texture must matter: a colour lookup table scores 0.25 mIoU (measured).
    assert colour_bayes_miou(data200, make_synthetic(50, seed=1)) < 0.4


@pytest.mark.parametrize("num_images", [0, -1, 2.5, True])
def test_bad_num_images(num_images):
    with pytest.raises(ConfigError, match="num_images"):
        make_synthetic(num_images)


def test_too_small_hw():
    with pytest.raises(ConfigError, match="hw"):
        make_synthetic(1, hw=(8, 8))
