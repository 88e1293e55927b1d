import numpy as np
import pytest

from strategies.class_balance import (
    enet_class_weights,
    predicted_class_frequencies,
    rare_class_weights,
)


def test_enet_weights_hand_computed_and_positive():
    w = enet_class_weights(np.array([0.0, 0.5, 1.0]))
    assert w == pytest.approx([1 / np.log(1.02), 1 / np.log(1.52), 1 / np.log(2.02)])
    assert (w > 0).all() and w[0] > w[1] > w[2]
    # the seed paper's 1 / log(f + eps) would be negative here: the reason for the ENet form
    assert 1 / np.log(0.5 + 1e-6) < 0


def test_pixels_predicted_as_the_rare_class_weigh_more():
    probs = np.zeros((1, 2, 1, 10))
    probs[0, 0, 0, :9] = 1.0  # nine pixels of class 0
    probs[0, 1, 0, 9] = 1.0  # one pixel of the rare class 1
    assert predicted_class_frequencies(probs) == pytest.approx([0.9, 0.1])
    weights = rare_class_weights(probs)
    assert weights.shape == (1, 1, 10)
    assert weights[0, 0, 9] > 5 * weights[0, 0, 0]
    assert weights.mean() == pytest.approx(1.0)


def test_class_balance_flips_the_choice_towards_the_rare_class():
    from al_loop.core.protocols import SelectionContext
    from al_loop.core.units import ImageUnits, Unit
    from strategies import make_strategy
    from tests.fakes import make_toy_data

    probs = np.zeros((3, 3, 32, 32), np.float32)
    probs[:, 0] = 1.0  # class 0 everywhere ...
    probs[0, :2] = 0.5  # ... image 0: unsure between the two frequent classes 0 and 1
    probs[1, 0], probs[1, 1] = 0.9, 0.1  # image 1: more class 1 mass, kept frequent
    probs[2, 0, :8, :8], probs[2, 2, :8, :8] = 0.6, 0.4  # image 2: rare class 2, less unsure
    ctx = SelectionContext(
        pool=make_toy_data(3),
        unit_space=ImageUnits(3, (32, 32)),
        labelled=set(),
        segmenter=None,
        rng=np.random.default_rng(0),
        round_index=1,
    )
    ctx._probs = probs
    plain = make_strategy("entropy", reduction="max").rank(ctx, 1).units
    balanced = make_strategy("entropy", reduction="max", class_balance=True).rank(ctx, 1).units
    assert plain == [Unit(0, 0)] and balanced == [Unit(2, 0)]
