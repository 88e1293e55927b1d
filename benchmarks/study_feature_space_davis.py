"""Study of feature-space annotation on DAVIS: segment upper bound, simulated labelling, timing.

    nice -n 19 .venv/bin/python benchmarks/study_feature_space_davis.py [--every 5 --hw 256 448]

On every ``--every``-th frame of the 345 DAVIS frames (../shared/datasets/DAVIS, read in place),
resized to ``--hw``:

(a) Upper bound of the segments: each segment takes its majority ground-truth label; the mean
    per-frame object IoU, for a sweep of hierarchy cuts (Bragantini et al. report 82.5 on DAVIS).
(b) The simulated box-labeller on the feature space of the chosen cut (Lite0 crops, UMAP):
    object IoU of the labels it produces (segment labels, mixed segments split by clicks) and
    the seconds it pays per frame from configs/costs.yaml (the paper: about 8.7 s per DAVIS
    image, a calibration check, not a target), for a few labeller settings.
(c) Metric learning: the separation ratio of segment features before and after training the
    projection head on the labels of half the frames, measured on the other half; and the
    labeller on the other half's segments in a plain projection vs one after metric learning.
(d) Time per stage, wall and CPU (fresh-process cold/warm projection: bench_feature_space.py).

Results: stdout and benchmarks/results/study_feature_space_davis.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from al_loop.core.cost import CostTable  # noqa: E402
from al_loop.core.metrics import binary_iou  # noqa: E402
from al_loop.data.base import IGNORE  # noqa: E402
from al_loop.data.benchmarks import DAVIS_ROOT, load_davis  # noqa: E402
from al_loop.feature_space import (  # noqa: E402
    build_feature_space,
    majority_and_purity,
    pool_segments,
    propagate_labels,
    segment_class_counts,
    separation_ratio,
    train_head,
)
from al_loop.feature_space.metric import embed  # noqa: E402
from al_loop.feature_space.projection import UNLABELLED, Projection  # noqa: E402
from simulators.box_labeller import BoxLabeller  # noqa: E402

LABELLERS = [  # box-labeller settings compared in (b); the third is used in (c)
    {"purity": 0.9, "max_wrong": None, "max_clicks": 6},
    {"purity": 0.9, "max_wrong": None, "max_clicks": 0},
    {"purity": 0.9, "max_wrong": 5, "max_clicks": 6},
    {"purity": 0.9, "max_wrong": 5, "max_clicks": 0},
    {"purity": 1.0, "max_wrong": None, "max_clicks": 6},
]
CUTS = [("volume", 300.0), ("volume", 500.0), ("volume", 1000.0), ("area", 50.0), ("area", 200.0)]


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> dict:
    now = clock()
    return {"wall_s": now[0] - start[0], "cpu_s": now[1] - start[1]}


def mean_object_iou(labels: np.ndarray, masks: np.ndarray) -> float:
    """Mean over frames of the object IoU (IGNORE labels count as background)."""
    return float(
        np.mean([binary_iou(lab == 1, gt == 1) for lab, gt in zip(labels, masks, strict=True)])
    )


def upper_bound(images, masks, criterion, threshold) -> dict:
    start = clock()
    segments, segment_image = pool_segments(images, criterion, threshold)
    majority, _ = majority_and_purity(segment_class_counts(segments, masks, 2))
    iou = mean_object_iou(propagate_labels(segments, majority), masks)
    return {
        "criterion": criterion,
        "threshold": threshold,
        "segments_per_image": len(segment_image) / len(images),
        "upper_bound_iou": iou,
        **{f"time_{k}": v for k, v in since(start).items()},
    }


def label_and_score(coords, ids, space, images, masks, **settings) -> dict:
    """The box-labeller on segments ``ids`` shown at ``coords``; scored on their frames."""
    labeller = BoxLabeller(CostTable.load(), **settings)
    start = clock()
    result = labeller.label_segments(
        coords, ids, space.segments, space.segment_image, images, masks, 2
    )
    table = np.full(space.num_segments, IGNORE, np.uint8)
    table[ids] = result.segment_labels
    labels = propagate_labels(space.segments, table)
    for k, split in result.splits.items():
        y0, x0, y1, x1 = split.box
        image = int(space.segment_image[ids[k]])
        inside = split.labels != IGNORE
        labels[image, y0:y1, x0:x1][inside] = split.labels[inside]
    frames = np.unique(space.segment_image[ids])
    majority, _ = majority_and_purity(segment_class_counts(space.segments, masks, 2))
    known = majority[ids] != IGNORE
    return {
        **settings,
        "frames": len(frames),
        "object_iou": mean_object_iou(labels[frames], masks[frames]),
        "pixel_accuracy": float((labels[frames] == masks[frames]).mean()),
        "segment_label_accuracy": float(
            np.mean(result.segment_labels[known] == majority[ids][known])
        ),
        "seconds_per_image": result.total_seconds / len(frames),
        "boxes": len(result.boxes),
        "segments_labelled_alone": len(result.singles),
        "segments_split": len(result.splits),
        "clicks": sum(len(s.clicks) for s in result.splits.values()),
        **{f"time_{k}": v for k, v in since(start).items()},
    }


def labelling_after_metric_learning(space, images, masks, **settings) -> dict:
    """Label the even frames' segments, train the metric head on those labels, then label the
    odd frames' segments in (i) a projection of their features alone and (ii) the projection
    of the head's embedding fitted semi-supervised with the even labels."""
    even = np.flatnonzero(space.segment_image % 2 == 0)
    odd = np.flatnonzero(space.segment_image % 2 == 1)
    first = Projection(seed=0).fit(space.features[even])
    labeller = BoxLabeller(CostTable.load(), **settings)
    labelled = labeller.label_segments(
        first, even, space.segments, space.segment_image, images, masks, 2
    )
    table = np.full(space.num_segments, IGNORE, np.uint8)
    table[even] = labelled.segment_labels
    head, _ = train_head(space.features, table, seed=0)
    targets = np.where(table == IGNORE, UNLABELLED, table.astype(np.int64))
    refined = Projection(seed=0).fit(embed(head, space.features), targets)[odd]
    plain = Projection(seed=0).fit(space.features[odd])
    return {
        "odd_frames_plain_projection": label_and_score(
            plain, odd, space, images, masks, **settings
        ),
        "odd_frames_after_metric_learning": label_and_score(
            refined, odd, space, images, masks, **settings
        ),
    }


def metric_learning(space, masks) -> dict:
    """Head trained on the segments of the even frames, measured on the odd frames."""
    majority, _ = majority_and_purity(segment_class_counts(space.segments, masks, 2))
    train = np.where(space.segment_image % 2 == 0, majority, IGNORE).astype(np.uint8)
    test = np.where(space.segment_image % 2 == 1, majority, IGNORE).astype(np.uint8)
    start = clock()
    head, losses = train_head(space.features, train, seed=0)
    embedded = embed(head, space.features)
    return {
        "separation_ratio_before_test": separation_ratio(space.features, test),
        "separation_ratio_after_test": separation_ratio(embedded, test),
        "separation_ratio_before_train": separation_ratio(space.features, train),
        "separation_ratio_after_train": separation_ratio(embedded, train),
        "losses": losses,
        **{f"time_{k}": v for k, v in since(start).items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=DAVIS_ROOT)
    parser.add_argument("--every", type=int, default=5, help="take every n-th of the 345 frames")
    parser.add_argument("--hw", type=int, nargs=2, default=[256, 448])
    parser.add_argument("--criterion", default="volume")
    parser.add_argument("--threshold", type=float, default=500.0)
    parser.add_argument("--skip-upper-bound", action="store_true", help="skip the cut sweep (a)")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/study_feature_space_davis.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    data = load_davis(args.root, tuple(args.hw))
    frames = np.arange(0, len(data), args.every)
    images, masks = data.images[frames], data.masks[frames]
    report: dict = {
        "frames": [data.names[i] for i in frames],
        "hw": list(args.hw),
        "cut": {"criterion": args.criterion, "threshold": args.threshold},
    }
    print(f"DAVIS: {len(frames)} of {len(data)} frames at {args.hw[0]}x{args.hw[1]}")

    cuts = [] if args.skip_upper_bound else CUTS
    report["upper_bound"] = [upper_bound(images, masks, c, t) for c, t in cuts]
    for row in report["upper_bound"]:
        print(
            f"(a) {row['criterion']:6s} {row['threshold']:7.0f}: "
            f"{row['segments_per_image']:6.1f} segments/frame, upper bound IoU "
            f"{row['upper_bound_iou']:.3f}"
        )

    start = clock()
    space = build_feature_space(images, criterion=args.criterion, threshold=args.threshold, seed=0)
    report["feature_space"] = {"segments": space.num_segments, **since(start)}
    print(f"feature space: {space.num_segments} segments, {report['feature_space']}")

    everything = np.arange(space.num_segments)
    report["labelling"] = [
        label_and_score(space.coords, everything, space, images, masks, **settings)
        for settings in LABELLERS
    ]
    for row in report["labelling"]:
        print(
            f"(b) purity {row['purity']:.1f} max_wrong {row['max_wrong']} clicks<= "
            f"{row['max_clicks']}: object IoU {row['object_iou']:.3f}, "
            f"{row['seconds_per_image']:.1f} s/frame, {row['boxes']} boxes, "
            f"{row['segments_labelled_alone']} alone, {row['segments_split']} split, "
            f"{row['clicks']} clicks"
        )
    report["labelling_after_metric_learning"] = labelling_after_metric_learning(
        space, images, masks, **LABELLERS[2]
    )
    for name, row in report["labelling_after_metric_learning"].items():
        print(
            f"(c) {name}: object IoU {row['object_iou']:.3f}, "
            f"{row['seconds_per_image']:.1f} s/frame, {row['boxes']} boxes, "
            f"{row['segments_labelled_alone']} alone, {row['clicks']} clicks"
        )

    report["metric_learning"] = metric_learning(space, masks)
    m = report["metric_learning"]
    print(
        f"(c) separation ratio on held-out frames: {m['separation_ratio_before_test']:.3f} -> "
        f"{m['separation_ratio_after_test']:.3f}"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
