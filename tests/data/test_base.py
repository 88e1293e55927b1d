"""``SegmentationData``'s concatenation: splits joined in order, their metadata with them."""

import numpy as np
import pytest

from al_loop.core.errors import DataError
from al_loop.data.base import concatenate
from tests.fakes import make_toy_data


def named(n: int, seed: int, prefix: str, source: str):
    data = make_toy_data(n, seed=seed)
    data.names = [f"{prefix}{i}" for i in range(n)]
    data.source = source
    return data


def test_parts_follow_one_another_with_their_per_image_metadata():
    a, b = named(2, 0, "a", "val"), named(3, 1, "b", "test")
    a.meta = {"drive": ["x", "x"], "weights": np.array([1.0, 2.0]), "note": "first"}
    b.meta = {"drive": ["y", "z", "z"], "weights": np.array([3.0, 4.0, 5.0]), "note": "second"}
    joined = concatenate([a, b])
    assert joined.names == ["a0", "a1", "b0", "b1", "b2"]
    assert np.array_equal(joined.images[3], b.images[1])
    assert np.array_equal(joined.masks[1], a.masks[1])
    assert joined.meta["drive"] == ["x", "x", "y", "z", "z"]
    assert joined.meta["weights"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert joined.meta["note"] == "first"  # not per image: the first part's
    assert joined.source == "val+test"
    assert joined.subset([4]).meta["drive"] == ["z"]  # still per image after the join


def test_parts_that_do_not_fit_together_are_refused_by_name():
    a = named(2, 0, "a", "val")
    small = make_toy_data(2, hw=(16, 16))
    small.source = "small"
    with pytest.raises(DataError, match="^small: classes or size"):
        concatenate([a, small])
    unlabelled = named(2, 1, "u", "pool")
    unlabelled.masks = None
    with pytest.raises(DataError, match="^pool: masks present in some parts"):
        concatenate([a, unlabelled])
    with pytest.raises(DataError, match="nothing to concatenate"):
        concatenate([])
