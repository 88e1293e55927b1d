"""Pool scoring time: every strategy ranking a pool of 1,000 images at the default resolution.

    python benchmarks/bench_scoring.py [--images 1000 --hw 128 --cell 32 --samples 10]

The default resolution is the synthetic set's (128x128); units are 32-pixel grid cells (16 per
image). One segmenter (Unet on the mapped EfficientNet-Lite0, dropout 0.2 so that BALD has MC
samples) scores the pool; its weights do not change the timing. Every strategy ranks the pool on
a fresh SelectionContext, as in a loop round, so each pays for the model passes it needs
(probabilities, MC-dropout samples, per-pixel features); a proxy around the segmenter splits the
time into model passes and the strategy's own selection work. The reference is one plain
predict_proba pass over the pool, measured in the same run: ratios are what a strategy costs in
units of "one prediction of the pool". Superpixel extraction (higra) for the pool is timed too.
Results go to stdout and benchmarks/results/bench_scoring.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from al_loop.core.protocols import SelectionContext  # noqa: E402
from al_loop.core.units import GridUnits, SuperpixelUnits  # noqa: E402
from al_loop.data.synthetic import make_synthetic  # noqa: E402
from al_loop.models.segmenter import SmpSegmenter  # noqa: E402
from strategies import make_strategy  # noqa: E402
from strategies.cost_aware import FeatureCostPredictor  # noqa: E402
from strategies.ralis.dqn import save_policy  # noqa: E402
from strategies.ralis.features import action_size, descriptor_size  # noqa: E402
from strategies.ralis.network import QNetwork  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_scoring.json"
MODEL_CALLS = ("predict_proba", "predict_proba_samples", "pixel_features")


class TimedSegmenter:
    """Forwards to the segmenter and adds up the seconds spent in each model pass."""

    def __init__(self, segmenter):
        self.segmenter, self.seconds = segmenter, defaultdict(float)

    def __getattr__(self, name):
        attribute = getattr(self.segmenter, name)
        if name not in MODEL_CALLS:
            return attribute

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed


def strategies(policy: Path, samples: int) -> dict[str, dict]:
    return {
        "random": {},
        "entropy": {},
        "margin": {},
        "least_confidence": {},
        "bald": {"samples": samples},
        "coreset": {},
        "hybrid": {},
        "cost_aware": {"base": "entropy"},
        "ralis": {"policy": str(policy)},
    }


def write_policy(path: Path, num_classes: int) -> Path:
    """A seeded, untrained query network: the timing does not depend on its weights."""
    torch.manual_seed(0)
    grid, bins, hidden = 2, 8, 64
    region, action = descriptor_size(num_classes, grid), action_size(num_classes, grid, bins)
    meta = {
        "region_size": region,
        "action_size": action,
        "hidden": hidden,
        "num_classes": num_classes,
        "grid": grid,
        "kl_bins": bins,
        "pool_size": 10,
        "state_images": 10,
        "unit_kind": "grid",
    }
    save_policy(QNetwork(region, action, hidden), meta, path)
    return path


def context(pool, space, segmenter, measured, seed=0) -> SelectionContext:
    return SelectionContext(
        pool=pool,
        unit_space=space,
        labelled=set(measured),
        segmenter=segmenter,
        rng=np.random.default_rng(seed),
        round_index=1,
        measured_seconds=measured,
        cost_predictor=FeatureCostPredictor(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--hw", type=int, default=128)
    parser.add_argument("--cell", type=int, default=32)
    parser.add_argument("--samples", type=int, default=10, help="MC-dropout samples for BALD")
    parser.add_argument("--count", type=int, default=100, help="units ranked per call")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", help="a subset of the strategies")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    pool = make_synthetic(args.images, (args.hw, args.hw), seed=0)
    print(f"pool: {len(pool)} images {pool.hw}, generated in {time.perf_counter() - started:.1f} s")
    segmenter = SmpSegmenter(pool.num_classes, dropout=0.2, batch_size=args.batch_size)
    segmenter.reset(0)
    space = GridUnits(len(pool), pool.hw, cell=args.cell)
    units = space.units()
    rng = np.random.default_rng(0)
    history = rng.choice(len(units), size=min(200, len(units) // 4), replace=False)
    labelled_units = [units[i] for i in history]  # a labelled set with measured costs
    measured = {u: float(rng.uniform(2.4, 12.0)) for u in labelled_units}

    segmenter.predict_proba(pool.images[: args.batch_size])  # warm up allocators
    start = time.perf_counter()
    segmenter.predict_proba(pool.images)
    predict_s = time.perf_counter() - start
    print(f"reference: predict_proba over the pool {predict_s:.1f} s\n")

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        chosen = strategies(write_policy(Path(tmp) / "policy.pt", pool.num_classes), args.samples)
        names = args.only or list(chosen)
        header = (
            f"{'strategy':18s} {'total s':>8s} {'model s':>8s} {'select s':>9s} {'x predict':>10s}"
        )
        print(header)
        for name in names:
            timed = TimedSegmenter(segmenter)
            ctx = context(pool, space, timed, measured)
            strategy = make_strategy(name, **chosen[name])
            start = time.perf_counter()
            ranked = strategy.rank(ctx, args.count)
            total = time.perf_counter() - start
            model = sum(timed.seconds.values())
            results[name] = {
                "total_s": total,
                "model_s": model,
                "select_s": total - model,
                "model_passes_s": dict(timed.seconds),
                "ratio_to_predict": total / predict_s,
                "ranked": len(ranked.units),
            }
            r = results[name]
            print(
                f"{name:18s} {total:8.1f} {model:8.1f} {r['select_s']:9.2f} {r['ratio_to_predict']:10.2f}",
                flush=True,
            )

    start = time.perf_counter()
    superpixels = SuperpixelUnits(len(pool), pool.hw, pool.images, threshold=200)
    superpixel_s = time.perf_counter() - start
    print(
        f"\nsuperpixel units for the pool (higra, area threshold 200): {superpixel_s:.1f} s, "
        f"{int(superpixels.counts.sum())} units ({superpixels.counts.mean():.1f} per image)"
    )
    report = {
        "config": {**vars(args), "classes": pool.num_classes, "units": len(units)},
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
            "python": platform.python_version(),
        },
        "predict_proba_s": predict_s,
        "strategies": results,
        "superpixel_units_s": superpixel_s,
        "superpixel_units": int(superpixels.counts.sum()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
