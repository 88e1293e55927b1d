"""Does retraining the learned method on a run's labels make units cheaper? The same units
annotated by the same simulated user with the method's own weights and with each round's
retrained weights (``annotation.retrain``), so that the strategy's choice of units, which
differs between runs, does not blur the answer.

    .venv/bin/python benchmarks/bench_retrain_units.py RUN_DIR [--units 60] [--seed 0]

RUN_DIR is a run with ``annotation.retrain.steps`` > 0 (e.g. the steps=20 arm of
``al-loop sweep configs/sweep_retrain.yaml``). The units are drawn at random from the run's
validation split (never labelled, never trained on); prints, for each set of weights, the mean
seconds and interactions per unit and the pixel agreement of the labels with the ground truth.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from al_loop.core.config import load_config
from al_loop.core.units import make_unit_space
from al_loop.interactive.learned.retrain import RETRAINED_DIR
from al_loop.wiring.build import build_annotator, load_splits, set_determinism


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--units", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    config = load_config(args.run_dir / "config.yaml")
    set_determinism(config.seed, config.threads)
    val = load_splits(config).val
    space = make_unit_space(
        config.units.kind, len(val), val.hw, images=val.images, **config.units.params()
    )
    units = space.units()
    rng = np.random.default_rng(args.seed)
    chosen = [units[i] for i in rng.choice(len(units), min(args.units, len(units)), replace=False)]
    annotator = build_annotator(config, val.masks)
    weights = {"own weights": annotator.method.weights}
    for path in sorted((args.run_dir / RETRAINED_DIR).glob("*_round_*.pt")):
        weights[f"round {int(path.stem.rsplit('_', 1)[-1])}"] = path

    print(f"{len(chosen)} {config.units.kind} units of {args.run_dir}'s val split")
    print(f"{'weights':<12} {'s/unit':>7} {'interactions':>12} {'agree':>6} {'wall s':>7}")
    for name, path in weights.items():
        annotator.method.use_weights(path)
        started = time.perf_counter()
        seconds, interactions, agreement = [], [], []
        for unit in chosen:
            result = annotator.annotate(
                unit, val.images[unit.image], space.box(unit), space.mask(unit)
            )
            y0, x0, y1, x1 = result.box
            truth = val.masks[unit.image, y0:y1, x0:x1]
            known = (result.mask != 255) & (truth != 255)
            seconds.append(result.seconds)
            interactions.append(len(result.interactions))
            agreement.append(
                float((result.mask[known] == truth[known]).mean()) if known.any() else 1.0
            )
        wall = time.perf_counter() - started
        print(
            f"{name:<12} {np.mean(seconds):7.2f} {np.mean(interactions):12.2f} "
            f"{np.mean(agreement):6.3f} {wall:7.1f}"
        )


if __name__ == "__main__":
    main()
