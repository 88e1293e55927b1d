"""RALis held-out episodes: the trained policy's greedy return against random and entropy picks.

    python benchmarks/bench_ralis.py configs/ralis_camvid.yaml \
        --policy weighted_iou=runs/ralis_camvid/policy.pt \
        --policy miou=runs/ralis_camvid_miou/policy.pt [--episodes 8] [--pool-size N ...] \
        [--play-split SPLIT ...] [--set KEY=VALUE ...]

A path ending in ``.ckpt`` evaluates the online network of a training checkpoint instead.

The environment is the one `al-loop train-policy CONFIG` learns in (same D_S, D_R, D_T, same
cached features), with the reward named before each policy. Every chooser plays the same
held-out episodes (seeds 1,000,000 + i, never used in training): same initial regions, same
sub-pools at the first step, the same head training. Greedy is the policy's argmax Q in each
sub-pool; entropy the candidate with the highest mean pixel entropy; random a uniform pick
(baselines played once per reward, shared by the policies named with it).
``--pool-size N`` (repeatable) plays everything again with N candidates per sub-pool instead of
the training's: the deployment's N (``strategy.params.pool_size``) is free, and a larger N lets
the policy choose from more while entropy's picks, the top of larger pools, grow alike.
The return of an episode is the gain of the reward-set score, in IoU points, from the initial
regions to the end. Reported: mean (standard error) over episodes, and greedy minus each
baseline paired by episode. ``--play-split`` plays the same comparison on other frames (e.g.
``train``, the loop's pool) to measure how a policy transfers. Results: stdout and
benchmarks/results/bench_ralis.json (--out).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from al_loop.core.config import load_config  # noqa: E402
from strategies.ralis.config import parse_ralis_params  # noqa: E402
from strategies.ralis.dqn import load_policy  # noqa: E402
from strategies.ralis.env import RegionEnv  # noqa: E402
from strategies.ralis.network import QNetwork  # noqa: E402
from strategies.ralis.train import (  # noqa: E402
    baseline_choosers,
    compare_picks,
    episode_settings,
    greedy_picks,
    held_out_seeds,
    region_sets,
)

RESULTS = Path(__file__).resolve().parent / "results" / "bench_ralis.json"
RARE = ("Pole", "SignSymbol", "Pedestrian", "Bicyclist", "star")  # CamVid's, synthetic's


def load_any_policy(path: str):
    """A policy file, or the online network of a training checkpoint (``.ckpt``: a partial
    training evaluated while it runs)."""
    if not path.endswith(".ckpt"):
        return load_policy(path)
    blob = torch.load(path, weights_only=True)
    meta = {**blob["meta"], "episodes_trained": int(blob["episode"])}
    network = QNetwork(meta["region_size"], meta["action_size"], meta["hidden"])
    network.load_state_dict(blob["agent"]["online"])
    return network.eval(), meta


def paired(a: list[float], b: list[float]) -> dict:
    d = np.asarray(a) - np.asarray(b)
    sem = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    return {"mean": float(d.mean()), "sem": sem, "wins": int((d > 0).sum()), "n": len(d)}


def print_run(run: dict, episodes: int, classes: list[str]) -> None:
    print(
        f"\nreward {run['reward']}, {run['pool_size']} candidates per sub-pool: policy "
        f"{run['policy']} ({run['episodes_trained']} episodes, trained on "
        f"{run['policy_reward']}), {episodes} held-out episodes, {run['seconds']:.0f} s"
    )
    for name, r in run["results"].items():
        pixels = np.asarray(r["picked_class_pixels"], dtype=np.float64)
        share = pixels / max(pixels.sum(), 1)
        rare = ", ".join(f"{c} {100 * share[i]:.1f} %" for i, c in enumerate(classes) if c in RARE)
        print(f"  {name:8s} return {r['mean']:+7.2f} ({r['sem']:.2f}); picked pixels: {rare}")
    for name, d in run["greedy_minus"].items():
        print(
            f"  greedy - {name:8s} {d['mean']:+7.2f} ({d['sem']:.2f}), "
            f"greedy ahead in {d['wins']}/{d['n']}"
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--policy", action="append", required=True, help="REWARD=PATH")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument(
        "--pool-size",
        type=int,
        action="append",
        help="candidates per sub-pool (repeatable; default: the training's pool_size)",
    )
    parser.add_argument(
        "--play-split",
        nargs="+",
        choices=("train", "val", "test"),
        help="play the episodes on these splits' frames instead of the training's: a diagnostic "
        "of transfer (train is the loop's pool: its labels score the episodes, nothing learns "
        "from them)",
    )
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if any(n < 2 for n in args.pool_size or []):
        parser.error("--pool-size: at least 2 candidates per sub-pool, or nothing is chosen")
    torch.set_num_threads(1)
    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    config = load_config(args.config, overrides)
    training = parse_ralis_params(config.strategy.params).training
    if args.play_split:
        # model_copy skips the leakage check on purpose: these episodes only score, never train
        played = training.data.model_copy(update={"split": tuple(args.play_split)})
        training = training.model_copy(update={"data": played})
    sets = region_sets(config, training, log=print)
    seeds = held_out_seeds(args.episodes)
    record = {
        "config": args.config,
        "played_on": list(training.data.splits),
        "seeds": seeds,
        "machine": platform.processor(),
        "runs": [],
    }
    baselines: dict[tuple[str, int], dict] = {}  # per reward and N: shared by the policies
    policies = [
        (reward, path, *load_any_policy(path))
        for reward, _, path in (item.partition("=") for item in args.policy)
    ]
    for pool_size in args.pool_size or [training.pool_size]:
        for reward, path, network, meta in policies:
            settings = replace(episode_settings(training, reward), pool_size=pool_size)
            env = RegionEnv(
                sets["train"], sets["state"], sets["reward"], sets["num_classes"], settings
            )
            started = time.perf_counter()
            if (reward, pool_size) not in baselines:
                baselines[reward, pool_size] = compare_picks(env, baseline_choosers(env), seeds)
            results = compare_picks(env, {"greedy": greedy_picks(network)}, seeds)
            results |= baselines[reward, pool_size]
            run = {
                "reward": reward,
                "pool_size": pool_size,
                "policy": path,
                "policy_reward": meta.get("reward"),
                "episodes_trained": meta.get("episodes_trained"),
                "results": results,
                "greedy_minus": {
                    k: paired(results["greedy"]["returns"], results[k]["returns"])
                    for k in ("random", "entropy")
                },
                "seconds": time.perf_counter() - started,
            }
            record["runs"].append(run)
            print_run(run, args.episodes, sets["class_names"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"\nwrote {out}")
    return record


if __name__ == "__main__":
    main()
