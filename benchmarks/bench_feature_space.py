"""Feature-space speed: UMAP in a fresh process cold vs warm, and the whole pipeline's throughput.

    nice -n 19 .venv/bin/python benchmarks/bench_feature_space.py [--segments 5000 --images 60]

1. Projection in a fresh process, side by side: the same child script (import umap, fit 5,000
   segments of 320-D features, transform 500 new ones) runs twice on one empty numba cache
   directory: first cold (compiles and writes the cache), then warm (loads it). The target is a
   warm fresh process under 15 s. The features are a seeded 20-cluster Gaussian mixture in the
   shape of Lite0's pooled features.
2. The pipeline in this process on synthetic images: segments (higra), crops through the Lite0
   encoder, projection; segments per second per stage and overall.

Wall seconds and CPU seconds are both reported: on a shared machine (``nice -n 19`` under other
jobs) wall time measures the neighbours as much as the code, CPU time the code.
Results: stdout and benchmarks/results/bench_feature_space.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys, time
import numpy as np
clock = lambda: (time.perf_counter(), time.process_time())
start = clock()
from al_loop.feature_space.projection import Projection, import_umap
import_umap()
imported = clock()
rng = np.random.default_rng(0)
centres = rng.normal(0, 1, (20, {dim}))
which = rng.integers(0, 20, {segments} + 500)
features = (centres[which] + rng.normal(0, 0.5, (len(which), {dim}))).astype(np.float32)
projection = Projection(seed=0)
projection.fit(features[:{segments}])
fitted = clock()
projection.transform(features[{segments}:])
transformed = clock()
stage = lambda a, b: {{"wall_s": b[0] - a[0], "cpu_s": b[1] - a[1]}}
print(json.dumps({{
    "import": stage(start, imported), "fit": stage(imported, fitted),
    "transform": stage(fitted, transformed), "total": stage(start, transformed),
}}))
"""


# The same measurement with umap as shipped: its own ``cache=True`` functions only (in numba's
# default place) and its NN-descent neighbour search (from 4,096 points).
BASELINE = CHILD.replace(
    "from al_loop.feature_space.projection import Projection, import_umap\nimport_umap()",
    "import umap",
).replace(
    "projection = Projection(seed=0)\nprojection.fit(",
    "projection = umap.UMAP(n_neighbors=15, min_dist=0.01, random_state=0, n_jobs=1)\n"
    "projection.fit(",
)


def fresh_process(cache_dir: Path, segments: int, dim: int, script: str = CHILD) -> dict:
    """``script`` in a new interpreter whose numba cache starts as ``cache_dir`` holds."""
    env = {**os.environ, "AL_LOOP_CACHE_DIR": str(cache_dir), "PYTHONWARNINGS": "ignore"}
    env["NUMBA_CACHE_DIR"] = str(cache_dir / "numba")  # also where plain umap caches
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script.format(segments=segments, dim=dim)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - start  # interpreter start-up included
    return result


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def pipeline(images: int, hw: int) -> dict:
    import torch

    from al_loop.data.synthetic import make_synthetic
    from al_loop.feature_space import lite0_encoder, pool_segments, segment_features
    from al_loop.feature_space.projection import Projection

    torch.set_num_threads(1)
    data = make_synthetic(images, (hw, hw), seed=0)
    encoder = lite0_encoder()
    t0 = _clock()
    segments, segment_image = pool_segments(data.images, "area", threshold=100.0)
    t1 = _clock()
    features = segment_features(data.images, segments, segment_image, encoder)
    t2 = _clock()
    Projection(seed=0).fit(features)
    t3 = _clock()
    count = len(segment_image)

    def stage(a, b):
        return {
            "wall_s": b[0] - a[0],
            "cpu_s": b[1] - a[1],
            "segments_per_cpu_s": count / (b[1] - a[1]),
        }

    return {
        "images": images,
        "hw": [hw, hw],
        "segments": count,
        "segment": stage(t0, t1),
        "features": stage(t1, t2),
        "project": stage(t2, t3),
        "total": stage(t0, t3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=5000)
    parser.add_argument("--dim", type=int, default=320)
    parser.add_argument("--images", type=int, default=60, help="synthetic images (pipeline)")
    parser.add_argument("--hw", type=int, default=128)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also time umap as shipped, twice in fresh processes (minutes of compiling)",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/bench_feature_space.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        cold = fresh_process(Path(cache), args.segments, args.dim)
        warm = fresh_process(Path(cache), args.segments, args.dim)
    baseline = None
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            first = fresh_process(Path(cache), args.segments, args.dim, BASELINE)
            second = fresh_process(Path(cache), args.segments, args.dim, BASELINE)
        baseline = {"first": first, "second": second}
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "projection_fresh_process": {
            "segments": args.segments,
            "dim": args.dim,
            "cold": cold,
            "warm": warm,
            "cold_over_warm_wall": cold["total"]["wall_s"] / warm["total"]["wall_s"],
            "cold_over_warm_cpu": cold["total"]["cpu_s"] / warm["total"]["cpu_s"],
            "warm_under_15_s_cpu": warm["total"]["cpu_s"] < 15.0,
            "umap_as_shipped": baseline,
        },
        "pipeline": pipeline(args.images, args.hw),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    p = report["projection_fresh_process"]
    print(f"fresh-process projection of {args.segments} segments (wall / CPU seconds):")
    for name in ("cold", "warm"):
        r = p[name]
        print(
            f"  {name:4s} total {r['total']['wall_s']:6.1f} / {r['total']['cpu_s']:6.1f}"
            f"  (import {r['import']['cpu_s']:.1f}, fit {r['fit']['cpu_s']:.1f},"
            f" transform {r['transform']['cpu_s']:.1f} CPU s)"
        )
    print(f"  cold/warm: {p['cold_over_warm_wall']:.1f}x wall, {p['cold_over_warm_cpu']:.1f}x CPU")
    for name, r in (baseline or {}).items():
        print(
            f"  umap as shipped, {name} process: {r['total']['wall_s']:.1f} / "
            f"{r['total']['cpu_s']:.1f} (fit {r['fit']['cpu_s']:.1f} CPU s)"
        )
    q = report["pipeline"]
    print(f"pipeline on {q['images']} synthetic images, {q['segments']} segments:")
    for name in ("segment", "features", "project", "total"):
        r = q[name]
        print(
            f"  {name:8s} {r['segments_per_cpu_s']:8.1f} segments per CPU s ({r['wall_s']:.1f} s wall)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
