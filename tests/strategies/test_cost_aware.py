import numpy as np
import pytest

from al_loop.core.protocols import SelectionContext
from al_loop.core.units import GridUnits, Unit
from strategies import make_strategy
from strategies.cost_aware import FeatureCostPredictor, fit_ridge, unit_cost_features
from tests.fakes import make_toy_data


def one_hot(labels: np.ndarray, num_classes: int = 3) -> np.ndarray:
    """[1, C, H, W] confident probabilities from a class map."""
    probs = np.eye(num_classes)[labels].transpose(2, 0, 1)[None].astype(np.float64)
    return probs


def test_cost_features_hand_computed():
    labels = np.zeros((8, 16), np.int64)  # two 8x8 units side by side
    labels[1:3, 1:3] = 1  # unit 0: two objects of 4 pixels ...
    labels[5:7, 4:7] = 2  # ... of two classes (6 pixels)
    labels[0:2, 14:16] = 1  # unit 1: one object of 4 pixels
    labels[6, 9] = 1  # ... and one of 1 pixel (below min_object_pixels=2)
    index = (np.arange(16) // 8)[None, None, :].repeat(8, axis=1)
    probs = one_hot(labels)
    probs[0, :, 0, 0] = [0.5, 0.5, 0.0]  # one unsure pixel in unit 0
    features = unit_cost_features(probs, index, 2, min_object_pixels=2)
    objects, boundary, uncertainty, area = features.T
    assert objects.tolist() == [2.0, 1.0]
    assert area.tolist() == [64.0, 64.0]
    assert uncertainty == pytest.approx([0.5 / 64, 0.0])
    assert boundary[0] > boundary[1] > 0


def test_an_object_crossing_two_units_counts_in_both():
    labels = np.zeros((4, 8), np.int64)
    labels[1:3, 2:6] = 1
    index = (np.arange(8) // 4)[None, None, :].repeat(4, axis=1)
    objects = unit_cost_features(one_hot(labels), index, 2, min_object_pixels=1)[:, 0]
    assert objects.tolist() == [1.0, 1.0]


def test_ridge_recovers_a_linear_cost():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 5.0]])
    y = 2.4 + 2.4 * x[:, 0] + 0.9 * x[:, 1]
    coefficients = fit_ridge(x, y, alpha=0.0)
    assert coefficients == pytest.approx([2.4, 2.4, 0.9])


def context(measured):
    data = make_toy_data(4)
    from tests.fakes import CentroidSegmenter

    segmenter = CentroidSegmenter()
    segmenter.reset(0)
    segmenter.fit(data.images, data.masks, seed=0)
    return SelectionContext(
        pool=data,
        unit_space=GridUnits(4, data.hw, cell=16),
        labelled=set(measured),
        segmenter=segmenter,
        rng=np.random.default_rng(0),
        round_index=1,
        measured_seconds=measured,
        cost_predictor=FeatureCostPredictor(min_history=4),
    )


def test_predictor_learns_cost_from_predicted_objects_and_stays_flat_without_history():
    ctx = context({Unit(0, 0): 3.0})
    assert ctx.expected_seconds(ctx.unit_space.units()[:3]).tolist() == [3.0, 3.0, 3.0]
    # price every unit at a confirming click plus 2.4 s per predicted object
    probe = context({})
    index = probe.unit_space.pixel_unit_index(np.arange(4))
    objects = unit_cost_features(probe.probabilities(), index, 16)[:, 0]
    assert len(set(objects.tolist())) > 1  # the toy units differ in what they hold
    measured = {u: 2.4 + 2.4 * objects[i] for i, u in enumerate(probe.unit_space.units())}
    train = dict(list(measured.items())[:10])
    predicted = context(train).expected_seconds(list(measured)[10:])
    assert predicted == pytest.approx(list(measured.values())[10:], abs=0.5)


def test_cost_aware_prefers_the_cheaper_of_two_equally_uncertain_units():
    ctx = context({})
    probs = np.zeros((4, 3, 32, 32), np.float32)
    probs[:, 0] = 1.0
    probs[1, :, :16, :16] = 1 / 3  # units (1, 0) and (2, 3) are equally, fully uncertain
    probs[2, :, 16:, 16:] = 1 / 3
    ctx._probs = probs
    ctx._expected_seconds = lambda units: np.array([9.0 if u == Unit(1, 0) else 3.0 for u in units])
    assert make_strategy("entropy").rank(ctx, 2).units == [Unit(1, 0), Unit(2, 3)]
    strategy = make_strategy("cost_aware", base="entropy")
    assert strategy.name == "entropy_per_second"
    assert strategy.rank(ctx, 2).units == [Unit(2, 3), Unit(1, 0)]


def test_cost_aware_needs_a_scoring_base():
    from al_loop.core.errors import ConfigError

    with pytest.raises(ConfigError, match="strategy.base"):
        make_strategy("cost_aware", base="random")


class SpyStrategy:
    """Records what the loop put in the context, then ranks like entropy."""

    name = "spy"

    def __init__(self):
        self.seen = []

    def rank(self, ctx, count):
        self.seen.append((dict(ctx.measured_seconds), ctx.expected_seconds(ctx.candidates())))
        return make_strategy("entropy").rank(ctx, count)


def test_the_loop_gives_the_context_what_labelling_cost_so_far(tmp_path):
    from al_loop.core.experiment import Budget, Loop
    from al_loop.core.store import LabelStore
    from tests.fakes import CentroidSegmenter, OracleAnnotator

    data = make_toy_data(6)
    spy = SpyStrategy()
    loop = Loop(
        pool=data,
        val=make_toy_data(2, seed=9),
        unit_space=GridUnits(6, data.hw, cell=16),
        segmenter=CentroidSegmenter(),
        seed_strategy=make_strategy("random"),
        strategy=spy,
        annotator=OracleAnnotator(data.masks),
        store=LabelStore(tmp_path / "store.sqlite"),
        checkpoint_dir=tmp_path / "checkpoints",
        budget=Budget(20.0, 12.0, 44.0),
        cost_predictor=FeatureCostPredictor(min_history=3),
    )
    loop.run()
    annotations = loop.store.annotations()
    measured, expected = spy.seen[-1]
    earlier = [a for a in annotations if a["round"] < len(loop.store.rounds()) - 1]
    assert measured == {Unit(a["image"], a["region"]): a["seconds"] for a in earlier}
    assert len(expected) > 0 and (expected > 0).all()
    # the oracle's price (2 s per class present) is learnable: predictions are not all equal
    assert len(set(np.round(expected, 6).tolist())) > 1
