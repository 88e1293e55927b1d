"""Fit the loop's segmenter on chosen splits of a data set and save it, for the benchmarks that
take a trained segmenter (``--segmenter`` of bench_feature_space_paper.py, ``--weights`` of
bench_learned_boundary.py) when it must not have seen the frames they label:

    # CamVid's val + test frames (dense labels), for the paper protocol on its training frames
    python benchmarks/fit_segmenter.py camvid --splits val test --epochs 8 --hw 180 240 \\
        --out runs/camvid_valtest_segmenter.pt

Prints the fit and the mIoU on the splits it left out (``--score``, default the pool, train).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from al_loop.data import load_dataset  # noqa: E402
from al_loop.data.base import SegmentationData  # noqa: E402
from al_loop.models.segmenter import SmpSegmenter  # noqa: E402

SPLITS = ("train", "val", "test")


def joined(splits, names: list[str]) -> SegmentationData:
    """The frames of ``names`` (splits of ``splits``) as one data set."""
    parts = [getattr(splits, name) for name in names]
    return SegmentationData(
        names=[name for p in parts for name in p.names],
        images=np.concatenate([p.images for p in parts]),
        masks=np.concatenate([p.masks for p in parts]),
        classes=parts[0].classes,
        source="+".join(p.source for p in parts),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="a data set name, e.g. camvid or davis")
    parser.add_argument("--root", default=None, help="its folder (default: the loader's)")
    parser.add_argument("--hw", nargs=2, type=int, default=None, metavar=("H", "W"))
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=["val", "test"])
    parser.add_argument("--score", nargs="+", choices=SPLITS, default=["train"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True, help="where the segmenter is saved (.pt)")
    args = parser.parse_args(argv)
    if set(args.splits) & set(args.score):
        parser.error("--score must name splits the segmenter is not fitted on")
    params = {"hw": tuple(args.hw)} if args.hw else {}
    if args.root:
        params["root"] = args.root
    splits = load_dataset(args.dataset, **params)
    fitted = joined(splits, args.splits)
    segmenter = SmpSegmenter(
        num_classes=len(fitted.classes),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        threads=args.threads,
        seed=args.seed,
    )
    fit = segmenter.fit(fitted.images, fitted.masks, seed=args.seed)
    scored = segmenter.evaluate(joined(splits, args.score))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    segmenter.save(args.out)
    summary = {
        "dataset": args.dataset,
        "fitted_on": args.splits,
        "frames": len(fitted.images),
        "fit": fit,
        "scored_on": args.score,
        "miou": scored["miou"],
        "per_class_iou": scored["per_class_iou"],
        "out": args.out,
    }
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
