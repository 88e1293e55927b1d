"""Whole-image fit vs window fit (segmenter.windows), side by side: wall time of one loop run and
its final val mIoU, on DAVIS and CamVid at about half resolution, same seeds.

    OMP_NUM_THREADS=1 nice python benchmarks/bench_fit_windows.py            # both data sets
    python benchmarks/bench_fit_windows.py --datasets davis --seeds 0 --limit 60 --rounds 3
    python benchmarks/bench_fit_windows.py --steps-only   # bf16 autocast vs float32 per step

Each arm is one `al-loop run` (entropy strategy, grid cells, DAVIS with watershed clicks, CamVid
with region_label clicks, 5 rounds of 300 s, one
thread) without the full-supervision reference (it is computed once per data set and seed and
shared by every arm of a study, so it is not part of a run's cost). The arms differ only in
the segmenter's fit: ``whole`` (whole images, the default), ``windows`` (windows around
labelled pixels), ``windows_bf16`` (the same under bfloat16 autocast). Arms alternate their
order per seed because the machine is shared. Results go to stdout (a Markdown table) and to
benchmarks/results/bench_fit_windows.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from al_loop.core.config import merge, parse_config  # noqa: E402
from al_loop.wiring.build import load_splits, run_experiment  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_fit_windows.json"
DATASETS_ROOT = "/work/shared/datasets"

# Half resolution: DAVIS 480x854 -> 224x416, CamVid 360x480 -> 192x256 (multiples of 32).
BASES = {
    "davis": {
        "dataset": {
            "name": "davis",
            "params": {"root": f"{DATASETS_ROOT}/DAVIS", "hw": [224, 416]},
        },
        "units": {"kind": "grid", "cell": 32},
        "segmenter": {"epochs": 4, "batch_size": 8, "lr": 0.001},
        "annotation": {
            "method": "watershed_clicks",
            "max_interactions": 20,
            "target_iou": 0.9,
            "context_margin": 16,
        },
    },
    "camvid": {
        "dataset": {
            "name": "camvid",
            "params": {"root": f"{DATASETS_ROOT}/CamVid", "hw": [192, 256]},
        },
        # many classes per cell: one region_label click per region of a cell (Cai et al. 2021).
        # Superpixel units spread a round's labels all over the images, where windows save
        # little (README "Speed"); grid cells keep them together.
        "units": {"kind": "grid", "cell": 32},
        "segmenter": {"epochs": 4, "batch_size": 8, "lr": 0.001},
        "annotation": {"method": "region_label"},
    },
}

LIMITS = {"davis": 100, "camvid": 40}  # frames read: DAVIS (all splits), CamVid (per split)

ARMS = {
    "whole": {},
    "windows": {"segmenter.windows": {"size": 96}},
    "windows_bf16": {"segmenter.windows": {"size": 96}, "segmenter.bf16": True},
}


def arm_config(args, dataset: str, arm: str, seed: int):
    base = merge(
        BASES[dataset],
        {
            "name": f"bench_{dataset}_{arm}",
            "seed": seed,
            "threads": 1,
            "strategy": {"name": "entropy"},
            "budget": {
                "initial_seconds": args.round_seconds,
                "round_seconds": args.round_seconds,
                "total_seconds": args.round_seconds * args.rounds,
            },
            "full_supervision": {"enabled": False},
            "dataset.params.limit": args.limit or LIMITS[dataset],
        },
    )
    overrides = dict(ARMS[arm])
    if "segmenter.windows" in overrides and args.window:
        overrides["segmenter.windows"] = {"size": args.window}
    return parse_config(merge(base, overrides), origin=f"{dataset}/{arm}")


def run_arm(config, splits) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_fit_") as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        records = run_experiment(config, Path(tmp) / "run", splits=splits, log=lambda _: None)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    last = records[-1].metrics
    return {
        "wall_s": wall,
        "cpu_s": cpu,  # one thread: the run's work, less sensitive to other jobs than wall
        "miou": last["miou"],
        "curve": [r.metrics["miou"] for r in records],
        "rounds": len(records),
        "labelled_fraction": last.get("labelled_fraction"),
    }


def step_times(reps: int = 2) -> str:
    """CPU seconds per optimiser step of 8 (fit of 3 steps, after a warm-up fit), float32 vs
    bfloat16 autocast, on a window-sized and a whole-image-sized batch; random pixels."""
    import numpy as np

    from al_loop.models.segmenter import make_segmenter

    rng = np.random.default_rng(0)
    lines = ["| input | float32 s/step | bf16 s/step |", "|---|---|---|"]
    for hw in [(96, 96), (224, 416)]:
        images = rng.integers(0, 256, (8, *hw, 3), dtype=np.uint8)
        labels = rng.integers(0, 2, (8, *hw), dtype=np.uint8)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(reps):
            for bf16 in (False, True):
                seg = make_segmenter(num_classes=2, epochs=3, batch_size=8, bf16=bf16)
                seg.reset(0)
                seg.fit(images, labels, seed=0)  # warm-up
                c0 = time.process_time()
                seg.fit(images, labels, seed=0)
                times[bf16].append((time.process_time() - c0) / 3)
        row = " | ".join(" / ".join(f"{t:.2f}" for t in times[b]) for b in (False, True))
        lines.append(f"| 8 x {hw[0]}x{hw[1]} | {row} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["davis", "camvid"], choices=list(BASES))
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument(
        "--limit", type=int, default=None, help="frames read (DAVIS: all splits; CamVid: each)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=float, default=300.0)
    parser.add_argument("--window", type=int, default=None, help="window side (default 96)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--steps-only", action="store_true", help="bf16 vs float32 per step")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.steps_only:
        print(step_times())
        return

    runs = []
    for dataset in args.datasets:
        splits = load_splits(arm_config(args, dataset, "whole", args.seeds[0]))
        sizes = f"pool {len(splits.train)}, val {len(splits.val)}, {splits.train.hw}"
        print(f"{dataset}: {sizes}", flush=True)
        for k, seed in enumerate(args.seeds):
            arms = args.arms if k % 2 == 0 else args.arms[::-1]
            for arm in arms:
                result = run_arm(arm_config(args, dataset, arm, seed), splits)
                result.update(dataset=dataset, arm=arm, seed=seed, data=sizes)
                runs.append(result)
                print(
                    f"  {arm:13s} seed {seed}: {result['wall_s']:7.1f} s wall, "
                    f"{result['cpu_s']:7.1f} s CPU, "
                    f"final mIoU {result['miou']:.3f}",
                    flush=True,
                )
                save(runs, args)
    print(save(runs, args))


def save(runs: list[dict], args) -> str:
    """Write every run so far (a long benchmark keeps what it measured); the table."""
    table = summarise(runs, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "argv": sys.argv[1:],
                "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "runs": runs,
                "table": table,
            },
            indent=1,
        )
    )
    return table


def summarise(runs: list[dict], args) -> str:
    lines = [
        "| data | fit | wall per run (s) | CPU per run (s) | speed-up (CPU) | "
        "final val mIoU (per seed) |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in args.datasets:
        rows = [r for r in runs if r["dataset"] == dataset]
        whole = [r["cpu_s"] for r in rows if r["arm"] == "whole"]
        for arm in args.arms:
            mine = [r for r in rows if r["arm"] == arm]
            if not mine:
                continue
            wall = statistics.mean(r["wall_s"] for r in mine)
            cpu = statistics.mean(r["cpu_s"] for r in mine)
            speed = f"{statistics.mean(whole) / cpu:.2f}x" if whole else "-"
            mious = " / ".join(f"{r['miou']:.3f}" for r in sorted(mine, key=lambda r: r["seed"]))
            lines.append(f"| {dataset} | {arm} | {wall:.0f} | {cpu:.0f} | {speed} | {mious} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
