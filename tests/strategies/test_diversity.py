import numpy as np

from al_loop.core.protocols import SelectionContext
from al_loop.core.units import ImageUnits, Unit
from strategies import make_strategy
from strategies.diversity import k_center_greedy, kmeans
from tests.fakes import make_toy_data


def test_k_center_on_toy_points_hand_computed(rng):
    points = np.array([[0.0], [1.0], [10.0], [11.0], [5.0]])
    centers = np.array([True, False, False, False, False])
    picks, distances = k_center_greedy(points, centers, 4, rng)
    # farthest from 0 is 11; then 5 (5 from 0, 6 from 11); then 1 and 10 tie at 1: lower first
    assert picks.tolist() == [3, 4, 1, 2]
    assert distances.tolist() == [11.0, 5.0, 1.0, 1.0]


def test_k_center_without_centers_starts_at_random_then_goes_far():
    points = np.array([[0.0, 0.0], [0.1, 0.0], [9.0, 9.0]])
    picks, _ = k_center_greedy(points, np.zeros(3, bool), 2, np.random.default_rng(3))
    assert set(picks.tolist()) in ({0, 2}, {1, 2})


def test_kmeans_separates_blobs(rng):
    blobs = np.concatenate([rng.normal(c, 0.1, size=(10, 2)) for c in (0.0, 5.0, 10.0)])
    labels = kmeans(blobs, 3, rng)
    assert len(set(labels.tolist())) == 3
    for b in range(3):
        assert len(set(labels[b * 10 : (b + 1) * 10].tolist())) == 1


def duplicate_context():
    """Eight images: 0-3 near-duplicates (like frames of one video) and the most uncertain;
    4-7 four distinct, less uncertain ones."""
    data = make_toy_data(8)
    probs = np.zeros((8, 3, 32, 32), np.float32)
    probs[:, 0] = 1.0
    probs[:4] = 1 / 3  # the duplicates: fully uncertain
    probs[4:, 0], probs[4:, 1] = 0.6, 0.4
    features = np.array(
        [[0, 0], [0, 0.01], [0.01, 0], [0.01, 0.01], [5, 0], [0, 5], [5, 5], [-5, -5]], float
    )
    ctx = SelectionContext(
        pool=data,
        unit_space=ImageUnits(8, data.hw),
        labelled=set(),
        segmenter=None,
        rng=np.random.default_rng(0),
        round_index=1,
    )
    ctx._probs, ctx._unit_features = probs, features
    return ctx


def test_uncertainty_alone_takes_the_near_duplicates_diversity_does_not():
    entropy = make_strategy("entropy").rank(duplicate_context(), 4).units
    assert {u.image for u in entropy} == {0, 1, 2, 3}
    hybrid = make_strategy("hybrid", prefilter=2).rank(duplicate_context(), 4).units
    assert len({u.image for u in hybrid} & {0, 1, 2, 3}) == 1  # one of the duplicates ...
    assert len(hybrid) == 4  # ... and three distinct others
    coreset = make_strategy("coreset").rank(duplicate_context(), 4).units
    assert len({u.image for u in coreset} & {0, 1, 2, 3}) <= 1


def test_coreset_treats_labelled_units_as_centers():
    ctx = duplicate_context()
    ctx.labelled = {Unit(0, 0)}
    first = make_strategy("coreset").rank(ctx, 1).units[0]
    assert first == Unit(6, 0)  # (5, 5) is the farthest from the labelled (0, 0)
