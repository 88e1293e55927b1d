import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import SelectionContext
from al_loop.core.units import GridUnits, Unit
from strategies import STRATEGIES, make_strategy
from strategies.cost_aware import FeatureCostPredictor
from tests.fakes import CentroidSegmenter, make_toy_data
from tests.strategies.fakes import write_policy


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    """Constructor params per strategy (the ralis policy is a seeded, untrained network)."""
    policy = write_policy(tmp_path_factory.mktemp("ralis") / "policy.pt")
    # PCA instead of UMAP: the same strategy code path, without numba compilation per test run
    return {
        "ralis": {"policy": str(policy)},
        "bald": {"samples": 4},
        "feature_space": {"projection": "pca"},
    }


def _context(labelled=frozenset(), seed=0):
    data = make_toy_data(4)
    segmenter = CentroidSegmenter()
    segmenter.reset(0)
    segmenter.fit(data.images, data.masks, seed=0)
    space = GridUnits(4, data.hw, cell=16)
    return SelectionContext(
        pool=data,
        unit_space=space,
        labelled=set(labelled),
        segmenter=segmenter,
        rng=np.random.default_rng(seed),
        round_index=1,
        measured_seconds={u: 2.0 + u.region for u in space.units()[:10]},
        cost_predictor=FeatureCostPredictor(min_history=5),
    )


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_ranks_distinct_unlabelled_units_deterministically(name, params):
    labelled = {Unit(0, 0), Unit(1, 3)}
    strategy = make_strategy(name, **params.get(name, {}))
    ranked = strategy.rank(_context(labelled), 5)
    assert len(ranked.units) == 5 == len(set(ranked.units))
    assert not labelled & set(ranked.units)
    assert ranked.units == strategy.rank(_context(labelled), 5).units
    if ranked.scores is not None:
        assert ranked.scores == sorted(ranked.scores, reverse=True)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_returns_what_is_left_when_asked_for_more(name, params):
    ctx = _context()
    everything = set(ctx.unit_space.units())
    ranked = make_strategy(name, **params.get(name, {})).rank(
        _context(everything - {Unit(2, 1)}), 10
    )
    assert ranked.units == [Unit(2, 1)]


def test_entropy_picks_the_units_where_the_model_hesitates():
    ctx = _context()
    probs = np.zeros((4, 3, 32, 32), dtype=np.float32)
    probs[:, 0] = 1.0
    probs[2, :, 16:, :16] = 1 / 3  # unit (2, 2) is fully uncertain
    ctx._probs = probs
    assert make_strategy("entropy").rank(ctx, 1).units == [Unit(2, 2)]


def test_unknown_strategy_lists_valid_ones():
    with pytest.raises(ConfigError, match="entropy"):
        make_strategy("oracle")
    with pytest.raises(ConfigError, match="strategy.reduction"):
        make_strategy("entropy", reduction="median")
    with pytest.raises(ConfigError, match="strategy.params"):
        make_strategy("coreset", samples=3)
