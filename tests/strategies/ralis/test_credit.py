import pytest

from al_loop.core.errors import ConfigError
from strategies.ralis import credit as credit_module
from strategies.ralis.credit import CREDITS, ProgressCredit, make_credit


class ScriptedEnv:
    """``step`` returns the next of a scripted list of rewards."""

    def __init__(self, rewards):
        self.rewards = list(rewards)

    def step(self, regions):
        return self.rewards.pop(0)


def credited(credit, episodes, picks=2):
    """Per episode, per step: the credited rewards of the step's ``picks`` regions."""
    env = ScriptedEnv(r for episode in episodes for r in episode)
    out = []
    for episode in episodes:
        out.append([credit.rewards(env, list(range(picks)), t)[1] for t in range(len(episode))])
    return out


def test_shared_credit_gives_every_pick_the_step_reward():
    assert credited(make_credit("shared"), [[3.0, 1.0]]) == [[[3.0, 3.0], [1.0, 1.0]]]


def test_progress_credit_subtracts_the_mean_reward_of_past_episodes_at_that_step():
    out = credited(ProgressCredit(), [[3.0, 1.0], [5.0, 2.0], [4.0, 0.0]])
    assert out[0] == [[0.0, 0.0], [0.0, 0.0]]  # no past episode: no credit
    assert out[1] == [[2.0, 2.0], [1.0, 1.0]]  # 5 - 3, 2 - 1
    assert out[2] == [[0.0, 0.0], [-1.5, -1.5]]  # 4 - mean(3, 5), 0 - mean(1, 2)


def test_progress_credit_follows_a_drift_at_its_rate_once_warm():
    credit = ProgressCredit()
    warm = int(round(1 / credit_module.PROGRESS_RATE))
    credited(credit, [[1.0]] * warm)
    (step,) = credited(credit, [[2.0]], picks=1)[0]
    assert step == [1.0]
    assert credit.mean[0] == pytest.approx(1.0 + credit_module.PROGRESS_RATE)


def test_progress_credit_resumes_from_its_state_dict():
    episodes = [[3.0, 1.0], [5.0, 2.0], [4.0, 0.0], [1.0, 6.0]]
    straight = credited(ProgressCredit(), episodes)
    first = ProgressCredit()
    credited(first, episodes[:2])
    resumed = ProgressCredit()
    resumed.load_state_dict(first.state_dict())
    assert credited(resumed, episodes[2:]) == straight[2:]


def test_unknown_credit_is_a_config_error():
    with pytest.raises(ConfigError, match="training.credit.*marginal"):
        make_credit("counterfactual")
    assert set(CREDITS) == {"shared", "progress", "marginal"}
