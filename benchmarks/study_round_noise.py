"""Is a budget curve's drop between rounds the optimiser's doing or the labels'?

A run whose strategy is ``random`` picks its units without the model, so the labels in its store
are the labels any rerun would get: its rounds can be replayed on them with other training
settings, and the curves compared seed by seed with the stored one. Each variant replays the
loop's own training (reset with the run's seed, then one warm fit a round with the seed
``seed * 1000 + round``; with ``--check`` unchanged too: it must give the stored curve again):

- ``--lr X``: the fits at another learning rate;
- ``--average F``: the weights (and batch-norm buffers) averaged uniformly over the last
  fraction F of each fit's optimiser steps (stochastic weight averaging, Izmailov et al. 2018,
  ``torch.optim.swa_utils.AveragedModel``); the average is the model the round ends with.

    PYTHONPATH=$PWD nice .venv/bin/python benchmarks/study_round_noise.py \
        "runs/study_davis/strategy=random+,method=watershed_clicks,seed=0" --lr 0.0003 --average 0.5

Writes benchmarks/results/study_round_noise.json (one entry per run directory).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from torch.optim.swa_utils import AveragedModel

from al_loop.core.config import load_config
from al_loop.core.store import STORE_FILE, LabelStore
from al_loop.data.base import IGNORE, DatasetSplits
from al_loop.wiring.build import build_segmenter, load_splits, set_determinism

RESULTS = Path(__file__).parent / "results" / "study_round_noise.json"


def replay(
    run_dir: Path, splits: DatasetSplits, lr: float | None = None, average: float = 0.0
) -> list[float]:
    """Val mIoU after each of the run's rounds, its labels refitted as the loop fits them."""
    config = load_config(run_dir / "config.yaml")
    if config.strategy.name != "random":
        raise SystemExit(f"{run_dir}: strategy '{config.strategy.name}'; only random picks replay")
    set_determinism(config.seed, config.threads)
    pool = splits.train
    segmenter = build_segmenter(config, pool.num_classes)
    if lr is not None:
        segmenter.lr = lr
    segmenter.reset(config.seed)  # as Loop.resume before round 0
    curve = []
    with LabelStore(run_dir / STORE_FILE) as store:
        for past in range(len(store.rounds())):
            labels = store.label_maps(len(pool), pool.hw, max_round=past)
            labelled = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
            averaged = AveragedModel(segmenter.model, use_buffers=True) if average else None

            def after_step(step: int, total: int, averaged=averaged) -> None:
                if averaged is not None and step > (1 - average) * total:
                    averaged.update_parameters(segmenter.model)

            segmenter.fit(
                pool.images[labelled],
                labels[labelled],
                seed=config.seed * 1000 + past,
                progress=after_step,
            )
            if averaged is not None:
                segmenter.load_weights(averaged.module.state_dict())
            curve.append(float(segmenter.evaluate(splits.val)["miou"]))
    return curve


def stored_curve(run_dir: Path) -> list[float]:
    with LabelStore(run_dir / STORE_FILE) as store:
        return [float(r.metrics["miou"]) for r in store.rounds() if r.metrics]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories of random-picks runs")
    parser.add_argument("--lr", type=float, nargs="*", default=[], help="learning rates to try")
    parser.add_argument("--average", type=float, nargs="*", default=[], help="fractions, 0-1")
    parser.add_argument("--check", action="store_true", help="replay the loop's training too")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    variants = {"loop": {}} if args.check else {}
    variants.update({f"lr {lr:g}": {"lr": lr} for lr in args.lr})
    variants.update({f"average last {f:g}": {"average": f} for f in args.average})
    results = {}
    for run in map(Path, args.runs):
        stored = stored_curve(run)
        splits = load_splits(load_config(run / "config.yaml"))  # read once for every variant
        print(f"{run.name}\n  {'stored':22s} {' '.join(f'{v:.3f}' for v in stored)}")
        results[run.name] = {"stored": stored}
        for name, params in variants.items():
            start = time.process_time()
            curve = replay(run, splits, **params)
            results[run.name][name] = curve
            drops = sum(b < a - 0.02 for a, b in zip(curve, curve[1:], strict=False))
            print(
                f"  {name:22s} {' '.join(f'{v:.3f}' for v in curve)}  drops > 0.02: {drops}"
                f"  ({time.process_time() - start:.0f} CPU s)",
                flush=True,
            )
        if args.check and not np.allclose(results[run.name]["loop"], stored, atol=1e-6):
            print("  warning: the loop's replay differs from the stored curve")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
