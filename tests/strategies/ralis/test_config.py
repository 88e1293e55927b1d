import pytest

from al_loop.core.errors import ConfigError
from strategies.ralis.config import parse_ralis_params


def test_keep_best_keys_are_read_with_their_defaults():
    off = parse_ralis_params({"policy": "p.pt"}).training
    assert (off.validation_every, off.validation_episodes) == (0, 8)
    on = parse_ralis_params(
        {"policy": "p.pt", "training": {"validation_every": 20, "validation_episodes": 12}}
    ).training
    assert (on.validation_every, on.validation_episodes) == (20, 12)


@pytest.mark.parametrize(
    "training, message",
    [
        ({"validation_every": -1}, "training.validation_every: Input should be greater"),
        ({"validation_episodes": 0}, "training.validation_episodes: Input should be greater"),
        ({"validation_every": "often"}, "training.validation_every: Input should be a valid"),
        ({"validate_every": 20}, "training.validate_every: unknown key"),
    ],
)
def test_bad_keep_best_keys_are_one_line_config_errors(training, message):
    with pytest.raises(ConfigError, match=f"^strategy.params.{message}"):
        parse_ralis_params({"policy": "p.pt", "training": training})


def test_policy_data_may_join_splits_in_order():
    one = parse_ralis_params({"policy": "p.pt"}).training.data
    assert one.split == "test" and one.splits == ("test",)
    both = parse_ralis_params({"policy": "p.pt", "training": {"data": {"split": ["val", "test"]}}})
    assert both.training.data.splits == ("val", "test")


@pytest.mark.parametrize(
    "split, message",
    [
        (["val", "train"], "target pool"),
        (["val", "val"], "names a split twice"),
        ([], "at least one"),
        (["val", "pool"], "training.data.split"),
    ],
)
def test_bad_policy_splits_are_one_line_config_errors(split, message):
    with pytest.raises(ConfigError, match=message):
        parse_ralis_params({"policy": "p.pt", "training": {"data": {"split": split}}})


def test_a_reward_pool_smaller_than_the_reward_set_is_refused():
    ok = parse_ralis_params(
        {"policy": "p.pt", "training": {"reward_images": 10, "reward_pool_images": 40}}
    )
    assert ok.training.reward_pool_images == 40
    with pytest.raises(ConfigError, match="reward_pool_images \\(5\\) must be 0 or at least"):
        parse_ralis_params(
            {"policy": "p.pt", "training": {"reward_images": 10, "reward_pool_images": 5}}
        )
