from dataclasses import replace

import numpy as np
import pytest
import torch

from strategies.ralis.credit import CREDITS, make_credit
from strategies.ralis.dqn import AgentSettings, DQNAgent
from strategies.ralis.env import EpisodeSettings, RegionEnv
from strategies.ralis.features import action_size, descriptor_size
from strategies.ralis.network import QNetwork
from strategies.ralis.train import (
    KeepBest,
    compare_picks,
    entropy_picks,
    evaluate_policy,
    greedy_picks,
    held_out_seeds,
    random_picks,
    run_episode,
    train_policy,
    validation_seeds,
)
from tests.strategies.ralis.toy import ValueInFeatureEnv, coded_region_set, striped_masks

SETTINGS = AgentSettings(
    hidden=32, lr=3e-3, gamma=0.0, batch_size=32, buffer_size=2000, target_update=10,
    eps_start=1.0, eps_end=0.05, eps_decay_steps=80, max_actions=12,
)  # fmt: skip


def test_a_trained_policy_beats_random_on_a_toy_problem():
    env = ValueInFeatureEnv()
    agent = DQNAgent(env.region_size, env.action_size, SETTINGS, seed=0)
    history = train_policy(env, agent, episodes=60, learn_steps=4, seed=0)
    assert len(history) == 60
    seeds = list(range(1000, 1030))
    learned, chance = (
        np.mean(evaluate_policy(env, greedy_picks(agent.online), seeds)),
        np.mean(evaluate_policy(env, random_picks, seeds)),
    )
    # picks: 4 steps x 2 pools; random earns about 0, the best of 6 about 8 * (6/7 - 1/2) = 2.9
    assert abs(chance) < 0.6
    assert learned > chance + 1.5


def test_training_resumes_from_its_checkpoint_exactly(tmp_path):
    def fresh():
        return DQNAgent(3, 5, SETTINGS, seed=0)

    env = ValueInFeatureEnv()
    straight = fresh()
    full = train_policy(env, straight, 4, 2, seed=1, checkpoint=tmp_path / "a.ckpt", meta={"m": 1})
    interrupted = fresh()
    train_policy(env, interrupted, 2, 2, seed=1, checkpoint=tmp_path / "b.ckpt", meta={"m": 1})
    resumed = fresh()  # a new process: everything comes from the checkpoint
    history = train_policy(
        env, resumed, 4, 2, seed=1, checkpoint=tmp_path / "b.ckpt", meta={"m": 1}
    )
    assert history == full
    for key, value in straight.online.state_dict().items():
        assert torch.equal(value, resumed.online.state_dict()[key])


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    from al_loop.core.errors import AlLoopError

    env = ValueInFeatureEnv()
    train_policy(env, DQNAgent(3, 5, SETTINGS, 0), 1, 1, 0, tmp_path / "c.ckpt", {"m": 1})
    with pytest.raises(AlLoopError, match="another configuration"):
        train_policy(env, DQNAgent(3, 5, SETTINGS, 0), 2, 1, 0, tmp_path / "c.ckpt", {"m": 2})


def test_evaluation_is_deterministic():
    env = ValueInFeatureEnv()
    assert evaluate_policy(env, random_picks, [1, 2]) == evaluate_policy(env, random_picks, [1, 2])
    assert np.isfinite(evaluate_policy(env, random_picks, [3])).all()


def test_greedy_picks_are_the_agents_deployment_choice(rng):
    env = ValueInFeatureEnv()
    agent = DQNAgent(env.region_size, env.action_size, SETTINGS, seed=3)
    observation = env.reset(0)
    expected = agent.choose(observation.state, observation.actions, rng, explore=False)
    assert greedy_picks(agent.online)(observation, rng) == expected


def test_entropy_picks_take_the_most_uncertain_candidate_of_each_pool(rng):
    grid, classes = 1, 2
    actions = np.zeros((3, action_size(classes, grid, 2)), np.float32)
    actions[:, classes + 1] = [0.2, 0.9, 0.5]  # grid 1: [hist(2), min, mean, max, kl...]
    observation = type("Obs", (), {"actions": [actions, actions[::-1]]})()
    assert entropy_picks(classes, grid)(observation, rng) == [1, 1]


TINY = EpisodeSettings(
    steps=3, pools=2, pool_size=3, initial_regions=2, initial_head_steps=10, head_steps=5,
    head_hidden=8, head_lr=0.05, kl_bins=4,
)  # fmt: skip


def tiny_env(settings=TINY):
    train = coded_region_set(striped_masks(6, rare_image=4, rare_region=3), seed=1)
    state = coded_region_set(striped_masks(2), seed=2)
    reward = coded_region_set(striped_masks(3, rare_image=0, rare_region=1), seed=3)
    return RegionEnv(train, state, reward, 3, settings)


class Killed(Exception):
    pass


def dies_at_reset(env, count):
    """``env`` whose ``count``-th reset (from 0) raises: a process killed mid-training."""
    calls, reset = [0], env.reset

    def dying(seed):
        calls[0] += 1
        if calls[0] > count:
            raise Killed
        return reset(seed)

    env.reset = dying
    return env


@pytest.mark.parametrize("credit", sorted(CREDITS))
def test_training_on_the_region_env_resumes_exactly_between_checkpoints(tmp_path, credit):
    """Killed during episode 3 with checkpoints every 2 episodes: the resumed run replays
    episode 2 from the checkpoint of episodes 0-1 and ends exactly where a straight run ends."""
    sizes = descriptor_size(3, 2), action_size(3, 2, 4)
    settings = AgentSettings(hidden=8, batch_size=4, buffer_size=64, max_actions=6)

    def run(env, path):
        agent = DQNAgent(*sizes, settings, seed=0)
        history = train_policy(
            env, agent, 4, 2, seed=1, checkpoint=path, meta={"m": 1}, checkpoint_every=2,
            credit=make_credit(credit),
        )  # fmt: skip
        return agent, history

    straight, full = run(tiny_env(), tmp_path / "a.ckpt")
    with pytest.raises(Killed):
        run(dies_at_reset(tiny_env(), 3), tmp_path / "b.ckpt")
    resumed, history = run(tiny_env(), tmp_path / "b.ckpt")
    assert history == full and [h["episode"] for h in history] == [0, 1, 2, 3]
    for key, value in straight.online.state_dict().items():
        assert torch.equal(value, resumed.online.state_dict()[key])
    assert (resumed.steps, resumed.updates) == (straight.steps, straight.updates)


def test_compare_picks_scores_every_chooser_on_the_same_episodes():
    results = compare_picks(
        tiny_env(), {"random": random_picks, "entropy": entropy_picks(3, 2)}, [5, 6]
    )
    assert set(results) == {"random", "entropy"}
    for r in results.values():
        assert len(r["returns"]) == 2 and r["mean"] == np.mean(r["returns"])
        # 2 episodes x 3 steps x 2 pools of 2x2 regions, every pixel labelled
        assert sum(r["picked_class_pixels"]) == 2 * 3 * 2 * 4
    again = compare_picks(tiny_env(), {"random": random_picks}, [5, 6])
    assert again["random"]["returns"] == results["random"]["returns"]


def replayed_rewards(env, credit_name):
    """Run one exploring episode on ``env``; per step, the env's own rewards (the step's gain
    and each pick's marginal gain, from a twin env replaying the same picks) and the rewards
    the agent's replay holds for that step's transitions."""
    settings = AgentSettings(hidden=8, batch_size=4, buffer_size=64, max_actions=6)
    agent = DQNAgent(descriptor_size(3, 2), action_size(3, 2, 4), settings, seed=0)
    twin, picks = tiny_env(env.settings), []
    step = env.step

    def recording(regions):
        picks.append(list(regions))
        return step(regions)

    env.step = recording
    run_episode(env, agent, np.random.default_rng(0), 7, 1, make_credit(credit_name))
    twin.reset(7)
    expected = []
    for regions in picks:
        twin.observe()
        expected.append(twin.step_with_marginals(regions))
    stored = agent.replay.arrays["reward"][: len(agent.replay)]
    per_step = stored.reshape(len(picks), env.settings.pools)
    return expected, per_step


def test_with_one_sub_pool_each_transition_learns_its_own_picks_gain():
    expected, stored = replayed_rewards(tiny_env(replace(TINY, pools=1, steps=5)), "shared")
    assert stored.shape == (5, 1)
    assert np.allclose(stored[:, 0], [reward for reward, _ in expected], atol=1e-5)


def test_marginal_credit_gives_each_transition_its_own_regions_marginal_gain():
    expected, stored = replayed_rewards(tiny_env(replace(TINY, steps=8)), "marginal")
    assert np.allclose(stored, [m for _, m in expected], atol=1e-5)
    # here the head finds the rare class while training on regions labelled before the step:
    # a large step reward that neither pick earned
    shared_would_be = [[r] * TINY.pools for r, _ in expected]
    assert np.abs(np.asarray(shared_would_be) - stored).max() > 10.0
    shared_expected, shared = replayed_rewards(tiny_env(), "shared")
    assert np.allclose(shared, [[r] * TINY.pools for r, _ in shared_expected], atol=1e-5)


def first_feature_network(sign: float) -> torch.nn.Module:
    """A QNetwork on ValueInFeatureEnv whose Q is ``sign`` x the candidate's first feature (its
    worth): +1 picks the best candidate of each sub-pool, -1 the worst."""
    network = QNetwork(3, 5, hidden=4)
    with torch.no_grad():
        for p in network.parameters():
            p.zero_()
        network.action[0].weight[0, 0] = 1.0  # relu(x0), x0 in [0, 1)
        network.action[2].weight[0, 0] = 1.0
        network.q[0].weight[0, 4] = 1.0  # the action code's unit 0 (after 4 state units)
        network.q[2].weight[0, 0] = sign
    return network


def test_keep_best_keeps_the_best_snapshot_when_a_later_one_scores_worse():
    env, seeds = ValueInFeatureEnv(), [3, 4, 5]
    keep = KeepBest(env, seeds, every=1)
    good, bad = first_feature_network(1.0), first_feature_network(-1.0)
    first = keep.consider(good, 10)
    assert first == np.mean(evaluate_policy(env, greedy_picks(good), seeds)) > 2.0
    assert keep.consider(bad, 20) < -2.0  # the worst of each pool: about -2.9
    assert (keep.score, keep.episode) == (first, 10)
    for key, value in good.state_dict().items():
        assert torch.equal(keep.network_state[key], value)
    good.q[2].weight.data.fill_(-1.0)  # the kept state is a copy, not the live network
    assert keep.network_state["q.2.weight"][0, 0] == 1.0
    assert keep.consider(first_feature_network(1.0), 30) == first  # a tie keeps the earlier
    assert keep.episode == 10


def test_keep_best_is_due_every_n_episodes_and_after_the_last():
    keep = KeepBest(ValueInFeatureEnv(), [0], every=3)
    assert [d for d in range(1, 8) if keep.due(d, total=7)] == [3, 6, 7]


def test_validation_episodes_are_neither_training_nor_held_out_ones():
    validation = set(validation_seeds(24))
    assert len(validation) == 24
    assert not validation & set(held_out_seeds(1000))
    assert not validation & {seed * 100_000 + e for seed in range(100) for e in range(5000)}


LONGER = replace(TINY, steps=5)


def keep_best_run(env, path, episodes, every=1):
    """Training on ``env`` (a ``tiny_env(LONGER)``) with a fast-moving agent: its greedy
    validation return goes up and down from one episode to the next."""
    sizes = descriptor_size(3, 2), action_size(3, 2, 4)
    settings = AgentSettings(hidden=8, lr=1e-2, batch_size=4, buffer_size=64, max_actions=6)
    agent = DQNAgent(*sizes, settings, seed=0)
    keep = KeepBest(tiny_env(LONGER), [11, 12], every)  # its own env: the training env may die
    history = train_policy(
        env, agent, episodes, 2, seed=1, checkpoint=path, meta={"m": 1}, checkpoint_every=2,
        credit=make_credit("marginal"), keep_best=keep,
    )  # fmt: skip
    return agent, keep, history


def test_training_keeps_the_best_validated_snapshot_and_resumes_with_it(tmp_path):
    """Validated after every episode: the kept snapshot is the online network after the best
    episode count, not the last state; a run killed after that resumes with the same best."""
    agent, keep, history = keep_best_run(tiny_env(LONGER), tmp_path / "a.ckpt", 6)
    scores = [h["validation_return"] for h in history]
    assert len(scores) == 6 and keep.score == max(scores)
    assert keep.episode == 1 + scores.index(max(scores))
    assert keep.episode < 6 and scores[-1] < keep.score  # this run's last state is not the best
    shorter, _, _ = keep_best_run(tiny_env(LONGER), tmp_path / "b.ckpt", keep.episode)
    for key, value in shorter.online.state_dict().items():
        assert torch.equal(keep.network_state[key], value)
    assert not torch.equal(keep.network_state["q.2.weight"], agent.online.q[2].weight.data)

    # killed during the episode after the best one's checkpoint: the best so far comes back
    # from the checkpoint, the later (worse) validations are replayed, the result is the same
    kill_at = keep.episode + (keep.episode % 2) + 1  # after the checkpoint holding the best
    with pytest.raises(Killed):
        keep_best_run(dies_at_reset(tiny_env(LONGER), kill_at - 1), tmp_path / "c.ckpt", 6)
    blob = torch.load(tmp_path / "c.ckpt", weights_only=True)
    assert blob["keep_best"]["episode"] == keep.episode and blob["episode"] == kill_at - 1
    resumed, again, history_again = keep_best_run(tiny_env(LONGER), tmp_path / "c.ckpt", 6)
    assert history_again == history
    assert (again.score, again.episode) == (keep.score, keep.episode)
    for key, value in keep.network_state.items():
        assert torch.equal(again.network_state[key], value)
    for key, value in agent.online.state_dict().items():  # the checkpoint kept the last state
        assert torch.equal(resumed.online.state_dict()[key], value)


def test_a_checkpoint_scored_on_other_validation_episodes_is_refused(tmp_path):
    from al_loop.core.errors import AlLoopError

    keep_best_run(tiny_env(LONGER), tmp_path / "a.ckpt", 2)
    blob = torch.load(tmp_path / "a.ckpt", weights_only=True)
    other = KeepBest(tiny_env(), [11, 12, 13], every=1)
    with pytest.raises(AlLoopError, match="2 validation episodes, not 3"):
        other.load_state_dict(blob["keep_best"], tmp_path / "a.ckpt")
    fresh = KeepBest(tiny_env(), [11], every=1)
    fresh.load_state_dict({}, tmp_path / "old.ckpt")  # a checkpoint from before keep-best
    assert fresh.network_state is None and fresh.score == -np.inf
