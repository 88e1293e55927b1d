"""Do the shipped learned weights beat a network that never learned the task? NoC on the
first GrabCut images for each shipped model and for an untrained network of the same shape
(the ImageNet Lite0 encoder; guidance and decoder at their seed-0 initialisation), which is
what tests/interactive/learned/test_shipped.py's NoC bounds must tell apart.

    .venv/bin/python benchmarks/bench_untrained_noc.py [--methods ritm_clicks dextr iog] [--limit 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from al_loop.annotators.noc import run_noc
from al_loop.core.cost import CostTable
from al_loop.core.paths import REPO_ROOT
from al_loop.interactive import make_method
from al_loop.interactive.learned.network import build_network, save_weights
from al_loop.interactive.noc import load_noc_samples, summarize

SHIPPED = REPO_ROOT / "models" / "interactive"
GRABCUT = REPO_ROOT.parent / "shared" / "datasets" / "GrabCut"


def untrained_like(name: str, out_dir: Path) -> Path:
    """An untrained network with the shipped model's geometry, saved with its metadata."""
    meta = json.loads((SHIPPED / f"{name}.json").read_text())
    meta.pop("format")
    meta["training"] = {"untrained": True}
    network = build_network(
        tuple(meta["decoder_channels"]),
        pretrained=True,
        seed=0,
        deep_guidance=bool(meta.get("deep_guidance", False)),
    )
    return save_weights(network, out_dir / f"{name}_untrained.pt", meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["ritm_clicks", "dextr", "iog"])
    parser.add_argument("--limit", type=int, default=3, help="first N GrabCut images")
    parser.add_argument("--dataset", type=Path, default=GRABCUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    samples = load_noc_samples(args.dataset, limit=args.limit)
    print(f"{args.dataset}: first {len(samples)} images")
    print(f"{'method':<12} {'weights':<10} {'NoC@85':>7} {'NoC@90':>7} {'>=20@90':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.methods:
            for label, weights in (
                ("shipped", None),
                ("untrained", untrained_like(name, Path(tmp))),
            ):
                method = (
                    make_method(name) if weights is None else make_method(name, weights=weights)
                )
                row = summarize(run_noc(method, samples, CostTable.load(None)))
                print(
                    f"{name:<12} {label:<10} {row['noc85']:7.2f} {row['noc90']:7.2f} "
                    f"{row['failed90']:8.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
