"""NoC@85 / NoC@90 (max 20 clicks) of the classic click methods on the GrabCut set,
with per-interaction latency. The protocol lives in ``al_loop/interactive/noc.py`` (``al-loop noc`` gives
the full table with seconds and IoU curves); this script adds timings and parameter sweeps.

Standard protocol (RITM's evaluation): the NocClicker puts each click at the error pixel
farthest from the error region's boundary; the 128 boundary band is ignored; an image that never
reaches the IoU counts 20. Reference (RITM paper, Table 7): graph cut 7.98 / 10.00.

    .venv/bin/python benchmarks/bench_noc_classic.py [--methods grabcut_clicks watershed_clicks]
        [--limit N] [--jobs 2] [--param grabcut_clicks.radius=8 ...]

Latency is the mean wall time of one ``session.add`` (and of ``start``) per image; with
``--jobs 2`` the two workers share the machine, so compare latencies from runs with equal jobs.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from al_loop.annotators.noc import evaluate_image
from al_loop.core.cost import CostTable
from al_loop.core.metrics import clicks_to_iou
from al_loop.interactive import make_method
from al_loop.interactive.noc import MAX_INTERACTIONS, load_noc_samples
from simulators import make_user

GRABCUT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "GrabCut"
MAX_CLICKS = MAX_INTERACTIONS
REFERENCE = {"graph cut (RITM Table 7)": (7.98, 10.00)}


class TimedMethod:
    """Wraps a method to time ``start`` and every ``add``."""

    def __init__(self, method):
        self.method, self.name, self.interaction = method, method.name, method.interaction
        self.start_seconds: list[float] = []
        self.add_seconds: list[float] = []

    def start(self, image, initial_mask=None):
        t0 = time.perf_counter()
        session = self.method.start(image, initial_mask)
        self.start_seconds.append(time.perf_counter() - t0)
        outer = self

        class Timed:
            @property
            def mask(self):
                return session.mask

            def add(self, interaction):
                t = time.perf_counter()
                mask = session.add(interaction)
                outer.add_seconds.append(time.perf_counter() - t)
                return mask

        return Timed()


def run_one(args: tuple) -> dict:
    method_name, params, sample = args
    timed = TimedMethod(make_method(method_name, **params))
    user = make_user(timed.interaction, seed=0)
    record = evaluate_image(sample.name, timed, user, sample.image, sample.mask, CostTable.load())
    return {
        "name": sample.name,
        "noc85": clicks_to_iou(record.ious, 0.85, MAX_CLICKS),
        "noc90": clicks_to_iou(record.ious, 0.90, MAX_CLICKS),
        "start": timed.start_seconds[0],
        "adds": timed.add_seconds,
    }


def parse_params(items: list[str]) -> dict[str, dict]:
    params: dict[str, dict] = {}
    for item in items:
        key, value = item.split("=", 1)
        method, name = key.split(".", 1)
        params.setdefault(method, {})[name] = yaml.safe_load(value)
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["grabcut_clicks", "watershed_clicks"])
    parser.add_argument("--root", type=Path, default=GRABCUT)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--param", action="append", default=[], help="method.key=value")
    args = parser.parse_args()
    data = load_noc_samples(args.root, args.limit)
    params = parse_params(args.param)
    print(f"GrabCut: {len(data)} images, max {MAX_CLICKS} clicks, jobs={args.jobs}")
    for label, (n85, n90) in REFERENCE.items():
        print(f"  {label:28s} NoC@85 {n85:5.2f}  NoC@90 {n90:5.2f}")
    for method in args.methods:
        tasks = [(method, params.get(method, {}), item) for item in data]
        t0 = time.perf_counter()
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(run_one, tasks))
        wall = time.perf_counter() - t0
        adds = np.concatenate([r["adds"] for r in rows])
        print(
            f"  {method:28s} NoC@85 {np.mean([r['noc85'] for r in rows]):5.2f}  "
            f"NoC@90 {np.mean([r['noc90'] for r in rows]):5.2f}  "
            f"per click {1000 * adds.mean():4.0f} ms (p90 {1000 * np.percentile(adds, 90):4.0f})  "
            f"start {1000 * np.mean([r['start'] for r in rows]):4.0f} ms  "
            f">=20 clicks@90: {sum(r['noc90'] >= MAX_CLICKS for r in rows)}  wall {wall:.0f} s"
            + (f"  params {params[method]}" if method in params else "")
        )


if __name__ == "__main__":
    main()
