"""How a RALis policy's ranking relates to entropy's, in its episodes and on the loop's pool.

    python benchmarks/bench_ralis_agreement.py configs/ralis_camvid.yaml \
        --policy runs/ralis_camvid/policy.pt \
        --checkpoint runs/study_camvid_plateau/RUN/checkpoints/round_004.pt [--pool-size 200]

Two questions a policy that trails entropy in the loop raises: do the loop segmenter's
probabilities look like those the policy learnt from (the episodes' head on frozen features), and
does the policy rank candidates like entropy does? For the training environment (one held-out
episode played greedily, measured at steps 0, 6 and 12) and for each loop checkpoint (its
probabilities on the config's pool, with ``--labelled`` random regions counted as labelled), it
prints the percentiles of the regions' mean normalised pixel entropy and, over ``--pools`` random
sub-pools of ``--pool-size`` candidates, the mean Spearman correlation of Q with mean entropy and
how often Q's best is entropy's best. No results file: the numbers are the printed lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_feature_space_paper import load_segmenter  # noqa: E402

from al_loop.core.config import load_config  # noqa: E402
from al_loop.core.units import make_unit_space  # noqa: E402
from al_loop.data import load_dataset  # noqa: E402
from strategies.ralis.config import parse_ralis_params  # noqa: E402
from strategies.ralis.dqn import load_policy  # noqa: E402
from strategies.ralis.features import (  # noqa: E402
    boxes_of,
    mean_entropy,
    observation_features,
    region_descriptors,
    sample_at_stride,
)
from strategies.ralis.strategy import STATE_SEED  # noqa: E402
from strategies.ralis.train import build_environment, greedy_picks, held_out_seeds  # noqa: E402


def agreement(network, meta, state, descriptors, labelled, rng, pools: int, pool_size: int):
    """(mean Spearman of Q with mean entropy, share of sub-pools where both pick the same)."""
    num_classes, grid, bins = int(meta["num_classes"]), int(meta["grid"]), int(meta["kl_bins"])
    free = np.flatnonzero(~labelled)
    correlations, same_best = [], []
    with torch.no_grad():
        code = network.encode_state(torch.from_numpy(state)[None])
        for _ in range(pools):
            pool = rng.choice(free, size=min(pool_size, len(free)), replace=False)
            _, (actions,) = observation_features(
                state, descriptors, labelled, [pool], num_classes, bins
            )
            q = network.score(code, torch.from_numpy(actions)[None])[0].numpy()
            entropy = mean_entropy(actions, num_classes, grid)
            correlations.append(spearmanr(q, entropy).statistic)
            same_best.append(int(np.argmax(q)) == int(np.argmax(entropy)))
    return float(np.mean(correlations)), float(np.mean(same_best))


def describe(name: str, entropy: np.ndarray, agree: tuple[float, float]) -> None:
    """One line: ``entropy`` [U] from ``mean_entropy`` of region descriptors (they are the head
    of a candidate's action features, so it reads them alike)."""
    p10, p50, p90 = np.percentile(entropy, [10, 50, 90])
    print(
        f"{name}: region mean entropy p10 / p50 / p90 {p10:.3f} / {p50:.3f} / {p90:.3f}; "
        f"Spearman(Q, entropy) {agree[0]:+.2f}; same best {100 * agree[1]:.0f} %"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--policy", required=True)
    parser.add_argument("--checkpoint", action="append", default=[], help="loop segmenter")
    parser.add_argument("--pool-size", type=int, default=200)
    parser.add_argument("--pools", type=int, default=20, help="sub-pools per measurement")
    parser.add_argument("--labelled", type=int, default=400, help="loop: regions as labelled")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    network, meta = load_policy(args.policy)
    num_classes, grid = int(meta["num_classes"]), int(meta["grid"])
    config = load_config(args.config, {})
    training = parse_ralis_params(config.strategy.params).training
    rng = np.random.default_rng(0)

    env = build_environment(config, training, log=lambda *_: None)
    choose = greedy_picks(network)
    observation = env.reset(held_out_seeds(1)[0])
    for step in range(training.steps + 1):
        if step in (0, training.steps // 2, training.steps):
            regions = env.descriptors(env.train)
            agree = agreement(
                network,
                meta,
                env.descriptors(env.state_data),
                regions,
                env.labelled,
                rng,
                args.pools,
                args.pool_size,
            )
            name = f"episode step {step} ({env.labelled.sum()} of {len(env.labelled)} labelled)"
            describe(name, mean_entropy(regions, num_classes, grid), agree)
        if observation is None:
            break
        picks = choose(observation, rng)
        env.step([int(p[i]) for p, i in zip(observation.pools, picks, strict=True)])
        observation = env.observe()

    if not args.checkpoint:
        return
    pool = load_dataset(config.dataset.name, **config.dataset.params).train
    units = make_unit_space(
        config.units.kind, len(pool), pool.hw, images=pool.images, **config.units.params()
    )
    index = sample_at_stride(units.pixel_unit_index(np.arange(len(pool))))
    boxes = boxes_of(index, len(units.units()))
    image_of = np.array([u.image for u in units.units()])
    state_images = np.random.default_rng(STATE_SEED).choice(
        len(pool), size=min(int(meta["state_images"]), len(pool)), replace=False
    )
    for path in args.checkpoint:
        probs = load_segmenter(path, num_classes).predict_proba(pool.images)
        regions = region_descriptors(sample_at_stride(probs), index, boxes, grid)
        labelled = np.zeros(len(regions), dtype=bool)
        labelled[rng.choice(len(regions), size=args.labelled, replace=False)] = True
        state = regions[np.isin(image_of, state_images)]
        agree = agreement(network, meta, state, regions, labelled, rng, args.pools, args.pool_size)
        describe(f"loop {path}", mean_entropy(regions, num_classes, grid), agree)


if __name__ == "__main__":
    main()
