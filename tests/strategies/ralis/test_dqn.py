import numpy as np
import pytest
import torch
import torch.nn.functional as F

from al_loop.core.errors import ConfigError
from strategies.ralis.dqn import (
    AgentSettings,
    DQNAgent,
    ReplayBuffer,
    Transition,
    load_policy,
    save_policy,
)

STATE = np.zeros((4, 3), np.float32)


def transition(reward, next_actions=None, done=False):
    action = np.full(5, reward, np.float32)
    if done:
        return Transition(STATE, action, reward, None, None)
    if next_actions is None:
        next_actions = np.ones((2, 5), np.float32)
    return Transition(STATE, action, reward, STATE + 1, next_actions)


def test_replay_is_a_ring_buffer_with_padded_next_candidates(rng):
    buffer = ReplayBuffer(capacity=3, max_actions=4)
    for r in range(5):
        buffer.add(transition(float(r), done=r == 4))
    assert len(buffer) == 3 and buffer.position == 2
    assert buffer.arrays["reward"].tolist() == [3.0, 4.0, 2.0]  # 0 and 1 overwritten
    assert buffer.arrays["done"].tolist() == [False, True, False]
    assert buffer.arrays["next_mask"][0].tolist() == [True, True, False, False]
    assert not buffer.arrays["next_mask"][1].any()
    batch = buffer.sample(8, rng)
    assert batch["action"].shape == (8, 5) and batch["next_actions"].shape == (8, 4, 5)
    copy = ReplayBuffer(1, 1)
    copy.load_state_dict(buffer.state_dict())
    for key, array in buffer.arrays.items():
        assert np.array_equal(copy.arrays[key], array)
    assert (copy.size, copy.position) == (3, 2)


def agent(**settings):
    defaults = dict(hidden=8, batch_size=4, buffer_size=16, target_update=3, max_actions=2)
    return DQNAgent(3, 5, AgentSettings(**{**defaults, **settings}), seed=0)


def test_target_network_is_copied_every_target_update_steps(rng):
    a = agent()
    for r in range(4):
        a.remember(transition(float(r)))
    a.learn(rng)
    a.learn(rng)
    online, target = a.online.state_dict(), a.target.state_dict()
    assert any(not torch.equal(online[k], target[k]) for k in online)
    a.learn(rng)  # the third update copies
    online, target = a.online.state_dict(), a.target.state_dict()
    assert all(torch.equal(online[k], target[k]) for k in online)
    assert a.updates == 3


def test_double_dqn_target_hand_computed(rng):
    a = agent(gamma=0.5, target_update=1000)
    with torch.no_grad():  # make the online and target networks disagree
        for p in a.online.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.5)
    next_actions = np.array([[0.0] * 5, [1.0] * 5], np.float32)
    for _ in range(4):
        a.remember(transition(2.0, next_actions))
    state, nxt = torch.from_numpy(STATE)[None], torch.from_numpy(STATE + 1)[None]
    with torch.no_grad():
        best = int(a.online(nxt, torch.from_numpy(next_actions)[None]).argmax())  # online chooses
        value = float(a.target(nxt, torch.from_numpy(next_actions)[None])[0, best])  # target values
        q = float(a.online(state, torch.full((1, 1, 5), 2.0))[0, 0])
    expected = F.smooth_l1_loss(torch.tensor(q), torch.tensor(2.0 + 0.5 * value))
    assert a.learn(rng) == pytest.approx(float(expected), rel=1e-5)


def test_terminal_transitions_bootstrap_nothing(rng):
    a = agent(gamma=0.9)
    for _ in range(4):
        a.remember(transition(1.0, done=True))
    with torch.no_grad():
        q = float(a.online(torch.from_numpy(STATE)[None], torch.ones((1, 1, 5)))[0, 0])
    assert a.learn(rng) == pytest.approx(
        float(F.smooth_l1_loss(torch.tensor(q), torch.tensor(1.0)))
    )


def test_epsilon_decays_from_start_to_end(rng):
    a = agent(eps_start=1.0, eps_end=0.1, eps_decay_steps=10)
    assert a.epsilon == 1.0
    pools = [np.zeros((3, 5), np.float32)]
    for _ in range(100):
        a.choose(STATE, pools, rng)
    assert a.steps == 100 and a.epsilon == pytest.approx(0.1, abs=1e-3)
    a.choose(STATE, pools, rng, explore=False)
    assert a.steps == 100  # acting greedily (deployment) does not count


def test_agent_state_round_trips_exactly(rng):
    a, b = agent(), agent()
    for r in range(6):
        a.remember(transition(float(r)))
    a.learn(rng)
    b.load_state_dict(a.state_dict())
    x = torch.ones((1, 2, 5))
    assert torch.equal(
        a.online(torch.from_numpy(STATE)[None], x), b.online(torch.from_numpy(STATE)[None], x)
    )
    assert (b.steps, b.updates, len(b.replay)) == (a.steps, a.updates, 6)
    # both continue identically: same optimiser moments, same replay
    assert a.learn(np.random.default_rng(5)) == b.learn(np.random.default_rng(5))


def test_policy_save_and_load(tmp_path):
    a = agent()
    meta = {"region_size": 3, "action_size": 5, "hidden": 8, "num_classes": 2}
    save_policy(a.online, meta, tmp_path / "policy.pt")
    network, loaded_meta = load_policy(tmp_path / "policy.pt")
    assert loaded_meta == meta
    s, x = torch.rand((1, 4, 3)), torch.rand((1, 7, 5))
    assert torch.equal(network(s, x), a.online(s, x))


def test_missing_or_foreign_policy_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="train-policy"):
        load_policy(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a policy file"):
        load_policy(tmp_path / "junk.pt")
    torch.save({"format": 99}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not a RALis policy"):
        load_policy(tmp_path / "other.pt")
