import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.units import GridUnits
from al_loop.data.base import IGNORE
from strategies.ralis.env import EpisodeSettings, RegionEnv, weighted_iou
from strategies.ralis.features import action_size, descriptor_size
from tests.fakes import CentroidSegmenter, make_toy_data

SETTINGS = EpisodeSettings(steps=3, pools=2, pool_size=4, initial_regions=2, kl_bins=4)


def make_env(settings=SETTINGS):
    train, state, reward = (
        make_toy_data(6, seed=1),
        make_toy_data(2, seed=2),
        make_toy_data(3, seed=3),
    )

    def units(data):
        return GridUnits(len(data), data.hw, cell=16)

    return RegionEnv(
        CentroidSegmenter(), train, units(train), state, units(state), reward, settings
    )


def test_an_episode_labels_one_region_per_pool_and_ends_after_its_steps():
    env = make_env()
    observation = env.reset(seed=0)
    assert env.labelled.sum() == 2
    assert observation.state.shape == (2 * 4, descriptor_size(3, 2))
    assert [len(p) for p in observation.pools] == [4, 4]
    assert observation.actions[0].shape == (4, action_size(3, 2, 4))
    assert not env.labelled[np.concatenate(observation.pools)].any()
    rewards = []
    while observation is not None:
        reward = env.step([int(p[0]) for p in observation.pools])
        rewards.append(reward)
        observation = env.observe()
    assert len(rewards) == 3 and env.labelled.sum() == 2 + 3 * 2
    assert np.isfinite(rewards).all()
    labels = env._labels()
    assert ((labels != IGNORE) == env.labelled[env.train_index]).all()


def test_episodes_repeat_for_a_seed():
    def rewards(seed):
        env, out = make_env(), []
        observation = env.reset(seed)
        while observation is not None:
            out.append(env.step([int(p[-1]) for p in observation.pools]))
            observation = env.observe()
        return out, env.labelled.copy()

    first, second = rewards(4), rewards(4)
    assert first[0] == second[0] and np.array_equal(first[1], second[1])


def test_weighted_iou_uses_enet_weights_over_defined_classes():
    weights = np.array([1.0, 3.0, 5.0])
    assert weighted_iou([0.5, 1.0, None], weights) == pytest.approx((0.5 + 3.0) / 4.0)
    assert weighted_iou([None, None, None], weights) == 0.0


def test_unknown_reward_is_a_config_error():
    with pytest.raises(ConfigError, match="training.reward"):
        make_env(EpisodeSettings(reward="accuracy"))
