"""The feature-space arm's annotator in the loop: one study round's calls, maps kept vs re-encoded.

    nice -n 10 .venv/bin/python benchmarks/bench_feature_space_loop.py [--limit 0 --calls 800,401,1000,739]

The CamVid study's feature-space arm (configs/study_camvid.yaml, sub-grid 4: superpixels of area
100 at 180x240, purity 0.9, max_wrong 5, units_per_call 1000) makes about four calls a round of
units drawn over the whole 367-frame pool (round 0 of seed 0 with random: 800, 401, 1000 and 739
units). Side by side in one process, on the same random units: the annotator with the pool
images' encoder maps kept between calls (the default) and with ``map_cache_mb: 0`` (every call
encodes its images, as before the cache). Reported: CPU and wall seconds per call, images
encoded, and whether the two give the same labels, seconds and interactions (they must).
The run checks too that torch is still at one thread after the projections (umap used to reset
it to every core: al_loop/feature_space/projection.py, ``keeping_torch_threads``).
Results: stdout and benchmarks/results/bench_feature_space_loop.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/work/shared/datasets/CamVid")
    parser.add_argument("--limit", type=int, default=0, help="frames per split (0: all)")
    parser.add_argument("--calls", default="800,401,1000,739", help="units per call")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from al_loop.annotators.feature_space import FeatureSpaceAnnotator
    from al_loop.core.cost import CostTable
    from al_loop.core.protocols import AnnotationRequest
    from al_loop.core.units import make_unit_space
    from al_loop.data import load_dataset
    from al_loop.feature_space.features import lite0_encoder
    from al_loop.feature_space.projection import import_umap

    params = {"root": args.root, "hw": [180, 240], **({"limit": args.limit} if args.limit else {})}
    pool = load_dataset("camvid", **params).train
    space = make_unit_space(
        "superpixel", len(pool.names), pool.hw, images=pool.images, threshold=100
    )
    units = space.units()
    sizes = [int(n) for n in args.calls.split(",")]
    order = np.random.default_rng(args.seed).permutation(len(units))[: sum(sizes)]
    chosen = [units[i] for i in order]
    calls, start = [], 0
    for size in sizes:
        calls.append(
            [
                AnnotationRequest(u, pool.images[u.image], space.box(u), space.mask(u))
                for u in chosen[start : start + size]
            ]
        )
        start += size
    lite0_encoder(), import_umap()  # loaded once for both, outside the clocks

    results, outputs = {}, {}
    for label, cache_mb in (("maps re-encoded every call", 0.0), ("maps kept", 1024.0)):
        annotator = FeatureSpaceAnnotator(
            pool.masks,
            CostTable.load(),
            seed=args.seed,
            purity=0.9,
            max_wrong=5,
            units_per_call=1000,
            map_cache_mb=cache_mb,
        )
        per_call, out = [], []
        for requests in calls:
            wall, cpu = time.perf_counter(), time.process_time()
            out += annotator.annotate_batch(requests)
            per_call.append(
                {
                    "units": len(requests),
                    "wall_s": time.perf_counter() - wall,
                    "cpu_s": time.process_time() - cpu,
                }
            )
        outputs[label] = out
        results[label] = {
            "calls": per_call,
            "cpu_s": sum(c["cpu_s"] for c in per_call),
            "wall_s": sum(c["wall_s"] for c in per_call),
            "images_encoded": annotator.encoded_images,
            "labelled_seconds": sum(a.seconds for a in out),
            "torch_threads_after": torch.get_num_threads(),
        }
        print(
            f"{label:28s} CPU {results[label]['cpu_s']:6.1f} s  wall {results[label]['wall_s']:6.1f}"
            f" s  images encoded {annotator.encoded_images:4d}  labelled "
            f"{results[label]['labelled_seconds']:.2f} s  torch threads {torch.get_num_threads()}",
            flush=True,
        )
    a, b = outputs.values()
    same = all(
        x.seconds == y.seconds
        and np.array_equal(x.mask, y.mask)
        and x.interactions == y.interactions
        for x, y in zip(a, b, strict=True)
    )
    before, after = results.values()
    summary = {
        "pool_images": len(pool.names),
        "superpixels": len(units),
        "identical_annotations": same,
        "cpu_ratio": before["cpu_s"] / max(after["cpu_s"], 1e-9),
        "machine": platform.platform(),
        "results": results,
    }
    print(f"identical annotations: {same}; CPU ratio {summary['cpu_ratio']:.2f}x")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench_feature_space_loop.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
