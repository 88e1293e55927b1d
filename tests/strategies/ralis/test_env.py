from dataclasses import replace

import numpy as np
import pytest
import torch

from al_loop.core.errors import ConfigError
from al_loop.data.base import IGNORE
from strategies.ralis.env import EpisodeSettings, RegionEnv, weighted_iou
from strategies.ralis.features import action_size, descriptor_size
from tests.strategies.ralis.toy import coded_region_set, striped_masks

SETTINGS = EpisodeSettings(
    steps=3, pools=2, pool_size=3, initial_regions=2, initial_head_steps=40, head_steps=20,
    head_hidden=16, head_lr=0.05, kl_bins=4,
)  # fmt: skip


def make_env(settings=SETTINGS):
    # D_T: 6 images of 4 regions, one of them holding the rare class 2 in region 3 of image 4
    train = coded_region_set(striped_masks(6, rare_image=4, rare_region=3), seed=1)
    state = coded_region_set(striped_masks(2), seed=2)
    reward = coded_region_set(striped_masks(3, rare_image=0, rare_region=1), seed=3)
    return RegionEnv(train, state, reward, 3, settings)


def test_an_episode_labels_one_region_per_pool_and_ends_after_its_steps():
    env = make_env()
    observation = env.reset(seed=0)
    assert env.labelled.sum() == 2
    assert observation.state.shape == (2 * 4, descriptor_size(3, 2))
    assert [len(p) for p in observation.pools] == [3, 3]
    assert observation.actions[0].shape == (3, action_size(3, 2, 4))
    assert not env.labelled[np.concatenate(observation.pools)].any()
    rewards, picked = [], []
    while observation is not None:
        chosen = [int(p[0]) for p in observation.pools]
        picked += chosen
        rewards.append(env.step(chosen))
        observation = env.observe()
    assert len(rewards) == 3 and env.labelled.sum() == 2 + 3 * 2
    assert env.labelled[picked].all() and len(set(picked)) == 6
    assert np.isfinite(rewards).all()
    assert sum(rewards) == pytest.approx(100 * (env.score - env_initial_score(0)), abs=1e-6)


def env_initial_score(seed):
    env = make_env()
    env.reset(seed)
    return env.score


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


def gain_of_labelling(reward: str, region: int) -> float:
    """Reward of labelling ``region`` after every region without the rare class is labelled."""
    settings = EpisodeSettings(
        steps=5, pools=1, pool_size=2, initial_regions=1, initial_head_steps=60,
        head_steps=200, head_hidden=32, head_lr=0.05, reward=reward,
    )  # fmt: skip
    env = make_env(settings)
    env.reset(0)
    env.labelled[:] = True
    env.labelled[[4 * 4 + 3, region]] = False  # the rare region and the one to label
    env.step([])  # fit on everything but those two
    return env.step([region])


def test_a_region_that_fixes_a_rare_class_raises_the_weighted_reward_more():
    rare = 4 * 4 + 3
    plain, weighted = gain_of_labelling("miou", rare), gain_of_labelling("weighted_iou", rare)
    # before: class 2 never predicted (IoU 0 on D_R); after: found (IoU 1, +1/3 of mIoU).
    # Its ENet weight is about 7 times the others': its share of the weighted IoU is larger
    assert plain > 20.0 and weighted > 1.5 * plain
    # a region of a class already known changes neither much
    common = 0
    assert abs(gain_of_labelling("miou", common)) < 1.0
    assert abs(gain_of_labelling("weighted_iou", common)) < 1.0


def test_class_weights_are_enet_weights_of_the_train_labels():
    env = make_env()
    masks = env.train.masks
    f = np.bincount(masks.ravel(), minlength=3) / masks.size
    assert np.allclose(env.class_weights, 1 / np.log(1.02 + f))
    assert env.class_weights[2] > env.class_weights[0]


def test_ignored_pixels_are_neither_trained_nor_scored():
    train = striped_masks(6)
    train[:, 0, 0] = IGNORE
    reward = striped_masks(2)
    reward[:, 2:] = IGNORE  # only class 0 is scored
    env = RegionEnv(
        coded_region_set(train), coded_region_set(striped_masks(1)),
        coded_region_set(reward), 3, SETTINGS,
    )  # fmt: skip
    assert len(env._pixel_y) == 6 * 15 and (env._pixel_y != IGNORE).all()
    env.reset(0)
    iou = env.per_class_iou()
    assert np.isnan(iou[2]) and (np.isnan(iou[1]) or iou[1] == 0.0)


def test_weighted_iou_uses_class_weights_over_defined_classes():
    weights = np.array([1.0, 3.0, 5.0])
    assert weighted_iou(np.array([0.5, 1.0, np.nan]), weights) == pytest.approx(3.5 / 4.0)
    assert weighted_iou(np.array([np.nan] * 3), weights) == 0.0


def test_unknown_reward_is_a_config_error():
    with pytest.raises(ConfigError, match="training.reward"):
        make_env(EpisodeSettings(reward="accuracy"))


def stepped(env, regions, marginals=False):
    """``env`` reset with seed 0 and observed once, then stepped on ``regions``."""
    env.reset(0)
    env.observe()
    return env.step_with_marginals(regions) if marginals else env.step(regions)


def test_a_step_with_marginals_is_the_plain_step_and_leaves_the_episode_as_it_was():
    plain, credited = make_env(), make_env()
    regions = [5, 9]
    reward = stepped(plain, regions)
    reward_too, _ = stepped(credited, regions, marginals=True)
    assert reward_too == reward and credited.score == plain.score
    assert np.array_equal(credited.labelled, plain.labelled)
    for a, b in zip(plain.head.net.parameters(), credited.head.net.parameters(), strict=True):
        assert torch.equal(a, b)
    after, after_too = plain.observe(), credited.observe()
    assert np.array_equal(after.state, after_too.state)
    assert plain.step([int(after.pools[0][0])]) == credited.step([int(after.pools[0][0])])


def test_each_marginal_is_the_step_score_minus_the_same_step_without_that_region():
    regions = [5, 19, 21]  # 19: the rare class
    env = make_env()
    _, marginals = stepped(env, regions, marginals=True)
    for k in range(len(regions)):
        without = make_env()
        stepped(without, regions[:k] + regions[k + 1 :])
        assert marginals[k] == pytest.approx(100 * (env.score - without.score), abs=1e-9)


def test_the_marginal_of_the_rare_region_is_its_own_gain_not_the_steps():
    settings = EpisodeSettings(
        steps=5, pools=2, pool_size=2, initial_regions=1, initial_head_steps=60,
        head_steps=200, head_hidden=32, head_lr=0.05,
    )  # fmt: skip
    env = make_env(settings)
    env.reset(0)
    rare, common = 4 * 4 + 3, 0
    env.labelled[:] = True
    env.labelled[[rare, common]] = False
    env.step([])
    reward, (of_rare, of_common) = env.step_with_marginals([rare, common])
    # shared credit would give both picks the step's reward (class 2 found: +1/3 of mIoU)
    assert reward > 20.0 and of_rare > 20.0
    assert abs(of_common) < 1.0


def test_a_drawn_reward_set_changes_with_the_seed_and_leaves_the_episode_as_it_was():
    drawn = replace(SETTINGS, reward_draw=2)
    env, fixed = make_env(drawn), make_env()
    draws = set()
    for seed in range(6):
        observation, same = env.reset(seed), fixed.reset(seed)
        assert len(env.reward_rows) == 2 and len(set(env.reward_rows)) == 2
        draws.add(tuple(env.reward_rows))
        # the draw has its own generator: the seed's regions and sub-pools are unchanged
        assert np.array_equal(env.labelled, fixed.labelled)
        assert all(np.array_equal(a, b) for a, b in zip(observation.pools, same.pools, strict=True))
        # and the score is the drawn images' alone
        rows = env.reward_rows
        scored = make_env()
        scored.reward_data = replace(
            scored.reward_data,
            pixels=env.reward_data.pixels[rows],
            masks=env.reward_data.masks[rows],
        )
        scored.reward_rows = np.arange(2)
        scored.head = env.head
        assert scored.per_class_iou() == pytest.approx(env.per_class_iou(), nan_ok=True)
    assert len(draws) > 1
    env.reset(3)
    again = tuple(env.reward_rows)
    env.reset(3)
    assert tuple(env.reward_rows) == again
    assert len(fixed.reward_rows) == 3  # no draw: every D_R image, every episode
