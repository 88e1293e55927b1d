"""Per-interaction latency at 640x480 of every interactive method (classic and learned), side by
side in one run: images are visited once, and on each image every method runs its simulated user
for ``--interactions`` interactions, so all methods see the same machine load.

    nice -n 19 .venv/bin/python benchmarks/bench_interactive_latency.py [--images 5]
        [--interactions 5] [--threads 1] [--param ritm_clicks.weights=PATH ...]
        [--variant ritm_whole=ritm_clicks --param ritm_whole.zoom_in=false ...]

Reported per method: median and 90th percentile of one ``session.add`` (ms), the median of
``start`` (ms), the median of an image's first add (ms; ritm_clicks' first click sees the whole
image, later ones a zoomed crop), and the ratio of the median add to that of ``grabcut_clicks`` (the reference).
Learned methods whose weights are missing are listed as skipped. ``--variant LABEL=METHOD`` adds
another parameterisation of a method under its own label (its params: ``--param LABEL.KEY=V``),
e.g. ritm_clicks' whole-frame inference beside its zoom-in, so their ratio comes from one run.
JSON goes to benchmarks/results/bench_interactive_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from al_loop.core.errors import ConfigError
from al_loop.interactive import METHODS, make_method
from al_loop.interactive.noc import load_noc_samples
from al_loop.wiring.cli import parse_method_params
from simulators import make_user

ROOT = Path(__file__).resolve().parents[1]
GRABCUT = ROOT.parent / "shared" / "datasets" / "GrabCut"
RESULTS = ROOT / "benchmarks" / "results" / "bench_interactive_latency.json"
SIZE = (480, 640)  # (h, w)
REFERENCE_METHOD = "grabcut_clicks"


def at_size(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image (bilinear) and object mask (nearest, ignore band dropped) resized to 640x480."""
    h, w = SIZE
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    obj = cv2.resize(((mask > 0) & (mask != 255)).astype(np.uint8), (w, h), cv2.INTER_NEAREST)
    return resized, obj > 0


def time_method(method, image: np.ndarray, gt: np.ndarray, interactions: int) -> dict:
    user = make_user(method.interaction, seed=0)
    started = time.perf_counter()
    session = method.start(image)
    start = time.perf_counter() - started
    adds = []
    mask = session.mask
    for _ in range(interactions):
        interaction = user.next_interaction(gt, mask)
        if interaction is None:
            break
        t0 = time.perf_counter()
        mask = session.add(interaction)
        adds.append(time.perf_counter() - t0)
    return {"start": start, "adds": adds}


def parse_variants(pairs: list[str]) -> dict[str, str]:
    """``LABEL=METHOD`` pairs -> {label: method}; ConfigError naming a bad one."""
    out = {}
    for pair in pairs:
        label, _, method = pair.partition("=")
        if not label or method not in METHODS:
            raise ConfigError(
                f"--variant {pair}: expected LABEL=METHOD, METHOD one of {sorted(METHODS)}"
            )
        out[label] = method
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5, help="first N GrabCut images")
    parser.add_argument("--interactions", type=int, default=5, help="per image and method")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--methods", nargs="+", default=sorted(METHODS))
    parser.add_argument("--param", action="append", default=[], metavar="METHOD.KEY=VALUE")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=METHOD")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    labels = {name: name for name in args.methods} | parse_variants(args.variant)
    params = parse_method_params(args.param, list(labels))
    samples = [at_size(s.image, s.mask) for s in load_noc_samples(GRABCUT, args.images)]

    methods, skipped = {}, {}
    for name, base in labels.items():
        method = make_method(base, **params.get(name, {}))
        try:  # learned methods read their weights on the first start: probe once
            method.start(samples[0][0])
            methods[name] = method
        except ConfigError as err:
            skipped[name] = str(err)

    timings = {n: {"start": [], "adds": [], "first": []} for n in methods}
    for image, gt in samples:
        for name, method in methods.items():  # round-robin: every method under the same load
            t = time_method(method, image, gt, args.interactions)
            timings[name]["start"].append(t["start"])
            timings[name]["adds"].extend(t["adds"])
            timings[name]["first"].extend(t["adds"][:1])

    rows = {}
    for name, t in timings.items():
        adds = np.asarray(t["adds"]) * 1000
        rows[name] = {
            "interaction": methods[name].interaction,
            "adds": int(adds.size),
            "median_add_ms": float(np.median(adds)) if adds.size else float("nan"),
            "p90_add_ms": float(np.percentile(adds, 90)) if adds.size else float("nan"),
            "median_start_ms": float(np.median(t["start"]) * 1000),
            "median_first_add_ms": float(np.median(t["first"]) * 1000) if t["first"] else None,
        }
    reference = rows.get(REFERENCE_METHOD, {}).get("median_add_ms")
    for row in rows.values():
        row["ratio_to_grabcut_clicks"] = row["median_add_ms"] / reference if reference else None

    print(f"load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    print(f"per-interaction latency at {SIZE[1]}x{SIZE[0]}, {len(samples)} images, "
          f"{args.interactions} interactions, {args.threads} torch thread(s)")  # fmt: skip
    print(f"{'method':24s} {'kind':15s} {'n':>4s} {'median ms':>10s} {'p90 ms':>8s} "
          f"{'start ms':>9s} {'first ms':>9s} {'x grabcut':>9s}")  # fmt: skip
    for name, r in sorted(rows.items(), key=lambda kv: kv[1]["median_add_ms"]):
        ratio = r["ratio_to_grabcut_clicks"]
        print(
            f"{name:24s} {r['interaction']:15s} {r['adds']:4d} {r['median_add_ms']:10.1f} "
            f"{r['p90_add_ms']:8.1f} {r['median_start_ms']:9.1f} "
            f"{float('nan') if r['median_first_add_ms'] is None else r['median_first_add_ms']:9.1f} "
            f"{'' if ratio is None else f'{ratio:9.2f}'}"
        )
    for name, reason in skipped.items():
        print(f"{name:24s} skipped: {reason}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "size_hw": SIZE,
                "images": len(samples),
                "interactions": args.interactions,
                "threads": args.threads,
                "machine": platform.processor() or platform.machine(),
                "load_average": os.getloadavg()[0],
                "methods": rows,
                "skipped": skipped,
            },
            indent=2,
        )
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
