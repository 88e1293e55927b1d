import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from strategies.reduce import REDUCTIONS, reduce_to_units, top_units

SCORES = np.array([[[1.0, 3.0], [2.0, 10.0]]])  # one 2x2 image
INDEX = np.array([[[0, 0], [1, 1]]])  # two units: top row, bottom row


@pytest.mark.parametrize(
    ("how", "expected"),
    [("mean", [2.0, 6.0]), ("sum", [4.0, 12.0]), ("max", [3.0, 10.0]), ("topk_mean", [3.0, 10.0])],
)
def test_reductions_hand_computed(how, expected):
    assert np.allclose(reduce_to_units(SCORES, INDEX, 2, how), expected)


def test_topk_mean_takes_the_top_fraction():
    scores = np.arange(10, dtype=float).reshape(1, 2, 5)
    index = np.zeros((1, 2, 5), dtype=np.int64)
    assert reduce_to_units(scores, index, 1, "topk_mean")[0] == 9.0  # 10 % of 10 pixels -> 1
    from strategies.reduce import _topk_mean

    assert _topk_mean(scores.ravel(), index.ravel(), 1, fraction=0.3)[0] == pytest.approx(8.0)


@pytest.mark.parametrize("how", sorted(REDUCTIONS))
def test_units_without_pixels_do_not_break_reductions(how):
    out = reduce_to_units(SCORES, INDEX, 3, how)
    assert out.shape == (3,)


def test_unknown_reduction_lists_valid_ones():
    with pytest.raises(ConfigError, match="max, mean, sum, topk_mean"):
        reduce_to_units(SCORES, INDEX, 2, "median")


def test_top_units_skips_unavailable_and_breaks_ties_by_index():
    scores = np.array([0.5, 0.9, 0.9, 0.1])
    available = np.array([True, True, True, False])
    assert top_units(scores, available, 3).tolist() == [1, 2, 0]
    assert top_units(scores, np.array([True, False, True, True]), 10).tolist() == [2, 0, 3]
