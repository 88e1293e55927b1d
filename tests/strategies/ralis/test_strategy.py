import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import SelectionContext
from al_loop.core.units import GridUnits, Unit
from strategies import make_strategy
from strategies.ralis.features import descriptor_size
from tests.fakes import CentroidSegmenter, make_toy_data
from tests.strategies.fakes import write_policy


def context(num_classes=3, labelled=()):
    data = make_toy_data(5)
    segmenter = CentroidSegmenter(num_classes)
    segmenter.reset(0)
    return SelectionContext(
        pool=data,
        unit_space=GridUnits(5, data.hw, cell=16),
        labelled=set(labelled),
        segmenter=segmenter,
        rng=np.random.default_rng(0),
        round_index=1,
    )


def test_ralis_ranks_by_q_with_the_saved_policy(tmp_path):
    policy = write_policy(tmp_path / "p.pt")
    strategy = make_strategy("ralis", policy=str(policy), pool_size=3)
    ranked = strategy.rank(context(labelled={Unit(0, 0)}), 6)
    assert len(set(ranked.units)) == 6 and Unit(0, 0) not in ranked.units
    assert ranked.scores == sorted(ranked.scores, reverse=True)
    other = make_strategy("ralis", policy=str(write_policy(tmp_path / "q.pt", seed=7)))
    assert other.rank(context(labelled={Unit(0, 0)}), 6).units != ranked.units


def test_ralis_refuses_a_policy_for_other_classes_and_bad_params(tmp_path):
    policy = str(write_policy(tmp_path / "p.pt", num_classes=4))
    with pytest.raises(ConfigError, match="4 classes"):
        make_strategy("ralis", policy=policy).rank(context(), 2)
    with pytest.raises(ConfigError, match="strategy.params.training.episods"):
        make_strategy("ralis", policy=policy, training={"episods": 3})
    with pytest.raises(ConfigError, match="train-policy"):
        make_strategy("ralis", policy=str(tmp_path / "none.pt"))
    old = write_policy(tmp_path / "old.pt", action=descriptor_size(3, 2) + 2 * 4)
    with pytest.raises(ConfigError, match="older action features"):
        make_strategy("ralis", policy=str(old))
    with pytest.raises(ConfigError, match="target pool"):
        make_strategy("ralis", policy=policy, training={"data": {"split": "train"}})
