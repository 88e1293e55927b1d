import numpy as np
import torch

from strategies.ralis.dqn import AgentSettings, DQNAgent
from strategies.ralis.train import evaluate_policy, train_policy
from tests.strategies.ralis.toy import ValueInFeatureEnv

SETTINGS = AgentSettings(
    hidden=32, lr=3e-3, gamma=0.0, batch_size=32, buffer_size=2000, target_update=10,
    eps_start=1.0, eps_end=0.05, eps_decay_steps=80, max_actions=12,
)  # fmt: skip


def greedy(agent):
    return lambda obs, rng: agent.choose(obs.state, obs.actions, rng, explore=False)


def at_random(obs, rng):
    return [int(rng.integers(len(a))) for a in obs.actions]


def test_a_trained_policy_beats_random_on_a_toy_problem():
    env = ValueInFeatureEnv()
    agent = DQNAgent(env.region_size, env.action_size, SETTINGS, seed=0)
    history = train_policy(env, agent, episodes=60, learn_steps=4, seed=0)
    assert len(history) == 60
    seeds = list(range(1000, 1030))
    learned, chance = (
        evaluate_policy(env, greedy(agent), seeds),
        evaluate_policy(env, at_random, seeds),
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
    import pytest

    from al_loop.core.errors import AlLoopError

    env = ValueInFeatureEnv()
    train_policy(env, DQNAgent(3, 5, SETTINGS, 0), 1, 1, 0, tmp_path / "c.ckpt", {"m": 1})
    with pytest.raises(AlLoopError, match="another configuration"):
        train_policy(env, DQNAgent(3, 5, SETTINGS, 0), 2, 1, 0, tmp_path / "c.ckpt", {"m": 2})


def test_evaluation_is_deterministic():
    env = ValueInFeatureEnv()
    assert evaluate_policy(env, at_random, [1, 2]) == evaluate_policy(env, at_random, [1, 2])
    assert np.isfinite(evaluate_policy(env, at_random, [3]))
