"""``al-loop train-policy`` end to end on a tiny synthetic config, then the policy in a run."""

import json

import numpy as np
import pytest
import torch
import yaml

from al_loop.core.config import load_config
from al_loop.core.errors import ConfigError
from al_loop.wiring.cli import main
from strategies.ralis.config import RalisTraining, parse_ralis_params
from strategies.ralis.train import policy_splits, region_sets
from tests.fakes import make_toy_data


def tiny_config(tmp_path, episodes=1):
    config = {
        "name": "tiny",
        "threads": 1,
        "dataset": {"name": "synthetic", "params": {"num_images": 60, "hw": [32, 32]}},
        "units": {"kind": "grid", "cell": 16},
        "segmenter": {"encoder_weights": None, "epochs": 1, "batch_size": 4},
        "strategy": {
            "name": "ralis",
            "params": {
                "policy": str(tmp_path / "policy.pt"),
                "training": {
                    "data": {"split": "test"},
                    "state_images": 2,
                    "reward_images": 2,
                    "train_images": 4,
                    "episodes": episodes,
                    "steps": 2,
                    "pools": 2,
                    "pool_size": 3,
                    "initial_regions": 2,
                    "initial_head_steps": 5,
                    "head_steps": 2,
                    "feature_dims": 8,
                    "cache": str(tmp_path / "cache"),
                    "batch_size": 4,
                },
            },
        },
        "annotation": {"method": "watershed_clicks", "max_interactions": 3},
        "budget": {"initial_seconds": 10, "round_seconds": 10, "total_seconds": 20},
        "full_supervision": {"enabled": False},
    }
    path = tmp_path / "ralis.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_train_policy_resumes_and_the_policy_runs_in_the_loop(tmp_path, capsys):
    config = tiny_config(tmp_path)
    assert main(["train-policy", str(config)]) == 0
    assert (tmp_path / "policy.pt").is_file()
    assert main(["train-policy", str(config)]) == 2  # a checkpoint exists: --resume needed
    assert "--resume" in capsys.readouterr().err
    more = ["--set", "strategy.params.training.episodes=2"]
    assert main(["train-policy", str(config), "--resume", *more]) == 0
    more.append("--set=strategy.params.training.evaluation_episodes=1")
    assert main(["train-policy", str(config), "--resume", *more]) == 0  # nothing left to train
    record = json.loads((tmp_path / "policy.pt.history.json").read_text())
    assert [h["episode"] for h in record["episodes"]] == [0, 1]
    assert set(record["evaluation"]) == {"seeds", "greedy", "random", "entropy"}
    assert len(record["evaluation"]["entropy"]["returns"]) == 1
    assert len(list((tmp_path / "cache").glob("lite0_*.npy"))) == 3  # D_S, D_R, D_T encoded once
    assert main(["run", str(config), "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "store.sqlite").is_file()


def test_policy_splits_are_disjoint_and_sized():
    data = make_toy_data(10)
    training = RalisTraining(state_images=2, reward_images=3, train_images=4)
    state, reward, train = policy_splits(data, training, seed=0)
    names = [set(d.names) for d in (state, reward, train)]
    assert [len(n) for n in names] == [2, 3, 4]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert np.array_equal(policy_splits(data, training, 0)[2].images, train.images)
    with pytest.raises(ConfigError, match="has 10"):
        policy_splits(data, RalisTraining(train_images=9), seed=0)


@pytest.mark.slow
def test_train_policy_with_keep_best_writes_the_best_validated_snapshot(tmp_path):
    config = tiny_config(tmp_path, episodes=3)
    keep = ["--set", "strategy.params.training.validation_every=1"]
    keep += ["--set", "strategy.params.training.validation_episodes=2"]
    assert main(["train-policy", str(config), *keep]) == 0
    record = json.loads((tmp_path / "policy.pt.history.json").read_text())
    scores = [h["validation_return"] for h in record["episodes"]]
    best = record["validation"]
    assert best["best_return"] == max(scores) and best["best_episode"] == 1 + scores.index(
        max(scores)
    )
    policy = torch.load(tmp_path / "policy.pt", weights_only=True)
    checkpoint = torch.load(tmp_path / "policy.pt.ckpt", weights_only=True)
    assert policy["meta"]["validation"]["best_episode"] == best["best_episode"]
    assert policy["meta"]["episodes_trained"] == checkpoint["episode"] == 3
    for key, value in checkpoint["keep_best"]["network"].items():
        assert torch.equal(policy["state_dict"][key], value)
    # another number of validation episodes cannot pick among the same snapshots
    more = ["--set", "strategy.params.training.validation_episodes=3"]
    assert main(["train-policy", str(config), "--resume", *keep, *more]) == 2


@pytest.mark.slow
def test_the_policy_data_of_two_splits_is_drawn_from_both(tmp_path):
    # the synthetic set of 60 has 9 val and 9 test images: D_S + D_R + D_T = 16 needs both
    sizes = {"strategy.params.training.train_images": 12}
    config = load_config(tiny_config(tmp_path), sizes)
    with pytest.raises(ConfigError, match=r"= 16 but the policy data \(.*split test\) has 9"):
        region_sets(config, parse_ralis_params(config.strategy.params).training, log=lambda _: None)
    joined = {**sizes, "strategy.params.training.data.split": ["val", "test"]}
    config = load_config(tiny_config(tmp_path), joined)
    sets = region_sets(
        config, parse_ralis_params(config.strategy.params).training, log=lambda _: None
    )
    assert [len(sets[k].masks) for k in ("state", "reward", "train")] == [2, 2, 12]


def test_a_reward_pool_is_drawn_disjoint_from_the_state_and_train_sets():
    data = make_toy_data(20)
    training = RalisTraining(state_images=2, reward_images=3, reward_pool_images=6, train_images=4)
    state, reward, train = policy_splits(data, training, seed=0)
    names = [set(d.names) for d in (state, reward, train)]
    assert [len(n) for n in names] == [2, 6, 4]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    with pytest.raises(ConfigError, match="state_images \\+ reward_pool_images \\+ train_images"):
        policy_splits(make_toy_data(10), training, seed=0)
