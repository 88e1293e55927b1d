"""Feature-space annotation under the protocol of Bragantini et al. (Pattern Recognition 2022).

    nice -n 10 .venv/bin/python benchmarks/bench_feature_space_paper.py [--every 3] [--settings real]
    nice -n 10 .venv/bin/python benchmarks/bench_feature_space_paper.py --dataset camvid --every 4
    .venv/bin/python benchmarks/bench_feature_space_paper.py --reprice REPORT.json --fit-from P.json

DAVIS (``--dataset davis``, ../shared/datasets/DAVIS read in place, 345 frames at ``--hw``,
default 240x427): every segment of every frame is projected in one UMAP and labelled together by
the simulated box-labeller (simulators/box_labeller.py), as the paper's user labelled them. Two
settings: ``real``, the volume-criterion watershed hierarchy cut at the paper's 1000 at 480x854,
scaled with the pixel area to the working size (Table 2: upper bound 82.46; Table 3: 8.74 s per
image at 84.53 IoU), and ``perfect``, segments cut from the ground truth (its connected
components; Table 1: 7.82 s per image at 98.54 IoU).

For each setting, feature choice (``--features``: ``lite0_crop``, the shipped crops through
Lite0; ``lite0_maps``, Lite0 run once per frame and its maps averaged over each segment;
``stats``, colour and place; ``a+b`` concatenates; ``--metric`` reruns a choice as two calls with
metric learning between them) and labeller setting (``LABELLERS``): upper bound of the segments,
boxes / inspected segments / segments labelled alone / clicks per image, mean object IoU, pixel
accuracy, mIoU, the separation ratio of the features and of the projection, and seconds per
image at the shipped prices (configs/costs.yaml).

Calibration: on the perfect partition (``--fit-on`` features, ``--fit-labeller``) the prices of
the ``--scaled`` actions (default box and inspected segment, their ratio as shipped) are
multiplied by one scale so that the perfect partition costs 7.82 s per image; click and
single-segment label keep their published prices (simulators.box_labeller.fit_price_scale).
Every run is then priced with the fitted prices: on the perfect partition that is the fit, on
real segments a prediction to set beside Table 3's 8.74 s. ``--reprice`` prices stored reports
with the fit of ``--fit-from``'s perfect partition, measuring nothing.

CamVid (``--dataset camvid``, the training frames at 180x240, 11 classes, the same cut scaled
from 360x480): pixel accuracy and seconds per image against ``dense_camvid`` in costs.yaml.

Results: stdout and benchmarks/results/bench_feature_space_{davis,camvid}.json (``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fit_segmenter import joined  # noqa: E402

from al_loop.core.cost import CostTable  # noqa: E402
from al_loop.core.metrics import binary_iou  # noqa: E402
from al_loop.core.segments import (  # noqa: E402
    image_gradient,
    mixed_gradient,
    probability_gradient,
)
from al_loop.data import load_dataset  # noqa: E402
from al_loop.data.base import IGNORE  # noqa: E402
from al_loop.data.benchmarks import DAVIS_ROOT, load_davis  # noqa: E402
from al_loop.data.camvid import CAMVID_HW, CAMVID_ROOT, load_camvid  # noqa: E402
from al_loop.feature_space import (  # noqa: E402
    lite0_encoder,
    majority_and_purity,
    pool_segments,
    propagate_labels,
    segment_class_counts,
    segment_features,
    separation_ratio,
    train_head,
)
from al_loop.feature_space.features import (  # noqa: E402
    ProbabilityMaps,
    map_features,
    mask_pooled_features,
    segment_statistics,
    standardise_block,
)
from al_loop.feature_space.iterative import MetricReprojection  # noqa: E402
from al_loop.feature_space.metric import embed  # noqa: E402
from al_loop.feature_space.projection import UNLABELLED, Projection  # noqa: E402
from al_loop.feature_space.segments import ground_truth_segments  # noqa: E402
from al_loop.models.segmenter import SmpSegmenter  # noqa: E402
from simulators.box_labeller import (  # noqa: E402
    ACTION_PRICES,
    BoxLabeller,
    fit_price_scale,
    priced_seconds,
)

PAPER = {  # Bragantini et al. 2022 on DAVIS (345 frames): seconds per image, mean IoU
    "perfect": {"seconds_per_image": 7.82, "iou": 0.9854, "table": "Table 1"},
    "real": {"seconds_per_image": 8.74, "iou": 0.8453, "upper_bound": 0.8246, "table": "Table 3"},
}
PAPER_HW = (480, 854)
PAPER_THRESHOLD = 1000.0  # volume criterion at full size (Table 2)
PCA_DIMS = 48  # features are reduced before the exact neighbour search of UMAP (speed only)
CAMVID_THRESHOLD = 1000.0  # the same cut at CamVid's 360x480, scaled like DAVIS's
# Box-labeller settings compared on the same projection. ``careful``: configs/feature_space_davis
# (a box holds at most 5 segments of another class), every mixed segment with 16 wrong pixels
# (at 240x427) opened and split with up to 6 clicks. ``quick``: only segments with 0.1 % of the
# frame wrong are opened, with at most 2 clicks, and once the whole view holds no more boxes
# the user zooms in to tiles of 256 points (BoxLabeller.zoom_points) instead of labelling every
# remaining segment alone. ``thorough``: as ``quick`` with segments of 0.05 % of the frame wrong
# opened, up to 3 clicks. ``brief``, ``brief_coarse``: as ``quick`` with one click per opened
# segment, and only segments with 0.2 % (0.4 %) of the frame wrong opened. ``sparing``: as
# ``quick`` with segments of 0.2 % of the frame wrong opened; ``single``, ``single_coarse``: as
# ``quick`` with one click (segments of 0.1 %, 0.15 % opened). ``loose``, ``loose90``: as
# ``quick`` but a box is limited by its purity alone (95 %, 90 %), not by a count of wrong
# segments; ``loose90_single``: ``loose90`` with one click; ``boxes_only``: ``loose`` without
# clicks. ``pixels90_single``, ``pixels95_single``, ``pixels85_single``: boxes limited by the
# share of their pixels of the box's class (90, 95, 85 %; BoxLabeller.purity_by "pixels"), one
# click, segments with 0.2 % of the frame wrong opened; ``pixels95_boxes``: 95 %, no clicks.
# ``min_split_fraction``: of the frame's pixels.
LABELLERS = {
    "careful": {"purity": 0.9, "max_wrong": 5, "max_clicks": 6, "min_split_fraction": 16 / 102480},
    "quick": {
        "purity": 0.9,
        "max_wrong": 5,
        "max_clicks": 2,
        "min_split_fraction": 0.001,
        "zoom_points": 256,
    },
    "thorough": {
        "purity": 0.9,
        "max_wrong": 5,
        "max_clicks": 3,
        "min_split_fraction": 0.0005,
        "zoom_points": 256,
    },
    "brief": {
        "purity": 0.9,
        "max_wrong": 5,
        "max_clicks": 1,
        "min_split_fraction": 0.002,
        "zoom_points": 256,
    },
    "sparing": {
        "purity": 0.9,
        "max_wrong": 5,
        "max_clicks": 2,
        "min_split_fraction": 0.002,
        "zoom_points": 256,
    },
    "single": {
        "purity": 0.9,
        "max_wrong": 5,
        "max_clicks": 1,
        "min_split_fraction": 0.001,
        "zoom_points": 256,
    },
    "single_coarse": {
        "purity": 0.9,
        "max_wrong": 5,
        "max_clicks": 1,
        "min_split_fraction": 0.0015,
        "zoom_points": 256,
    },
    "loose90_single": {
        "purity": 0.9,
        "max_wrong": None,
        "max_clicks": 1,
        "min_split_fraction": 0.001,
        "zoom_points": 256,
    },
    "brief_coarse": {
        "purity": 0.9,
        "max_wrong": 5,
        "max_clicks": 1,
        "min_split_fraction": 0.004,
        "zoom_points": 256,
    },
    "loose": {
        "purity": 0.95,
        "max_wrong": None,
        "max_clicks": 2,
        "min_split_fraction": 0.001,
        "zoom_points": 256,
    },
    "boxes_only": {
        "purity": 0.95,
        "max_wrong": None,
        "max_clicks": 0,
        "min_split_fraction": 0.001,
        "zoom_points": 256,
    },
    "loose90": {
        "purity": 0.9,
        "max_wrong": None,
        "max_clicks": 2,
        "min_split_fraction": 0.001,
        "zoom_points": 256,
    },
    "pixels95_boxes": {
        "purity": 0.95,
        "purity_by": "pixels",
        "max_wrong": None,
        "max_clicks": 0,
        "min_split_fraction": 0.001,
        "zoom_points": 256,
    },
    "pixels90_single": {
        "purity": 0.9,
        "purity_by": "pixels",
        "max_wrong": None,
        "max_clicks": 1,
        "min_split_fraction": 0.002,
        "zoom_points": 256,
    },
    "pixels95_single": {
        "purity": 0.95,
        "purity_by": "pixels",
        "max_wrong": None,
        "max_clicks": 1,
        "min_split_fraction": 0.002,
        "zoom_points": 256,
    },
    "pixels85_single": {
        "purity": 0.85,
        "purity_by": "pixels",
        "max_wrong": None,
        "max_clicks": 1,
        "min_split_fraction": 0.002,
        "zoom_points": 256,
    },
}


def labeller_settings(name: str, frame_pixels: int) -> dict:
    settings = dict(LABELLERS[name])
    fraction = settings.pop("min_split_fraction")
    return {**settings, "min_split_pixels": max(1, round(fraction * frame_pixels))}


def clock() -> float:
    return time.process_time()


def score(labels: np.ndarray, masks: np.ndarray, num_classes: int) -> dict:
    """Pixel accuracy and mIoU over the pool (IGNORE ground truth not counted; an IGNORE label
    counts as wrong); for a binary task also the mean per-frame object IoU (DAVIS's measure)."""
    valid = masks != IGNORE
    right = (labels == masks) & valid
    ious = []
    for c in range(num_classes):
        union = ((labels == c) & valid | (masks == c)).sum()
        if union:
            ious.append(((labels == c) & (masks == c)).sum() / union)
    out = {"pixel_accuracy": float(right.sum() / valid.sum()), "miou": float(np.mean(ious))}
    if num_classes == 2:
        pairs = zip(labels, masks, strict=True)
        out["iou"] = float(np.mean([binary_iou(a == 1, b == 1) for a, b in pairs]))
    return out


def reduce(features: np.ndarray, dims: int = PCA_DIMS) -> np.ndarray:
    if features.shape[1] <= dims:
        return features.astype(np.float32)
    _, _, vt = np.linalg.svd(features[:: max(1, len(features) // 20000)], full_matrices=False)
    return (features @ vt[:dims].T).astype(np.float32)


class Features:
    """Feature choices by name: each maps (images, segments, segment_image) -> [S,D]."""

    def __init__(self, threads: int = 1, segmenter=None):
        self.threads = threads
        self.segmenter = segmenter  # a trained SmpSegmenter, for segmenter_maps
        self._maps: dict = {}

    def lite0_crop(self, images, segments, segment_image):
        """The shipped default: each segment's crop (outside zeroed) through Lite0."""
        return segment_features(images, segments, segment_image, lite0_encoder())

    def lite0_maps(self, images, segments, segment_image):
        """Lite0 run once per whole frame; its maps at strides 4-32 averaged over each segment."""
        key = id(images)
        if key not in self._maps:
            self._maps[key] = lite0_encoder().feature_maps(images)
        return map_features(self._maps[key], segments, len(segment_image))

    def segmenter_maps(self, images, segments, segment_image):
        """As lite0_maps, from a segmenter trained on the task (--segmenter) instead of the
        ImageNet weights: the loop's model is an encoder that has seen object and background."""
        if self.segmenter is None:
            raise SystemExit("--features segmenter_maps needs --segmenter")
        key = ("segmenter", id(images))
        if key not in self._maps:
            self._maps[key] = self.segmenter.feature_maps(images)
        return map_features(self._maps[key], segments, len(segment_image))

    def segmenter_probs(self, images, segments, segment_image):
        """The --segmenter's class probabilities averaged over each segment: what it predicts,
        so a segment it gets right lands among the others of its class (joined with
        segmenter_maps, ``segmenter_maps+segmenter_probs``, it separated CamVid's classes less)."""
        if self.segmenter is None:
            raise SystemExit("--features segmenter_probs needs --segmenter")
        (probs,) = ProbabilityMaps(self.segmenter).feature_maps(images)  # the loop's source
        return mask_pooled_features(probs, segments, len(segment_image))

    def stats(self, images, segments, segment_image):
        """Colour (CIELAB mean, std) and place (centroid, box size, area): no network."""
        return segment_statistics(images, segments, len(segment_image))

    def combine(self, names, images, segments, segment_image):
        blocks = [
            standardise_block(getattr(self, n)(images, segments, segment_image))
            for n in names.split("+")
        ]
        return np.concatenate(blocks, axis=1)


def label_all(
    coords, space, images, masks, cost, num_classes, settings, reproject=None
) -> tuple[dict, np.ndarray]:
    segments, segment_image = space
    labeller = BoxLabeller(cost, **settings)
    ids = np.arange(len(segment_image))
    result = labeller.label_segments(
        coords, ids, segments, segment_image, images, masks, num_classes, reproject
    )
    labels = propagate_labels(segments, result.segment_labels)
    for k, split in result.splits.items():
        y0, x0, y1, x1 = split.box
        inside = split.labels != IGNORE
        labels[int(segment_image[k]), y0:y1, x0:x1][inside] = split.labels[inside]
    return result.action_counts(), labels


def run_one(
    name,
    space,
    images,
    masks,
    features,
    cost,
    seed,
    metric,
    num_classes,
    labellers,
    cache,
    iterative=((0, None, False, True),),
) -> list[dict]:
    """One row per labeller setting and ``iterative`` choice (metric rounds, boxes per pass,
    anchored, learn: False re-projects without metric learning), all on the same features and
    first projection."""
    segments, segment_image = space
    majority, _ = majority_and_purity(segment_class_counts(segments, masks, num_classes))
    cached = cache / f"{name}.npz" if cache else None
    if cached and cached.is_file():  # the same frames, cut and features measured before
        stored = np.load(cached)
        reduced, coords, dims = stored["reduced"], stored["coords"], int(stored["dims"])
        feature_cpu, projection_cpu = float(stored["feature_cpu"]), float(stored["projection_cpu"])
    else:
        start = clock()
        raw = features.combine(name, images, segments, segment_image)
        feature_cpu = clock() - start
        reduced, dims = reduce(raw), raw.shape[1]
        start = clock()
        coords = Projection(seed=seed).fit(reduced)
        projection_cpu = clock() - start
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez(
                cached,
                reduced=reduced,
                coords=coords,
                dims=dims,
                feature_cpu=feature_cpu,
                projection_cpu=projection_cpu,
            )
    rows = []
    frame_pixels = masks.shape[1] * masks.shape[2]
    for labeller, (rounds, every, anchored, learn) in itertools.product(labellers, iterative):
        settings = labeller_settings(labeller, frame_pixels)
        settings.update(metric_rounds=rounds, reproject_every=every)
        reproject = None
        if rounds:
            reproject = MetricReprojection(reduced, seed=seed, anchored=anchored, learn=learn)
        start = clock()
        counts, labels = label_all(
            coords, space, images, masks, cost, num_classes, settings, reproject
        )
        row = {
            "features": name + ("+metric" if metric else ""),
            "labeller": labeller,
            "dims": int(dims),
            "separation_features": separation_ratio(reduced, majority),
            "separation_projection": separation_ratio(coords, majority),
            **score(labels, masks, num_classes),
            "counts": counts,
            "cpu_s": {"features": feature_cpu, "projection": projection_cpu},
        }
        if rounds:
            row.update(iterative_record(reproject, rounds, every, reduced, majority))
            row["cpu_s"]["metric"] = sum(r.cpu_s for r in reproject.rounds)
        if metric:  # a second call after metric learning on the first call's labels
            row.update(
                relabel_after_metric(
                    reduced, majority, space, images, masks, cost, seed, num_classes, settings
                )
            )
        row["cpu_s"]["labelling"] = clock() - start
        rows.append(row)
    return rows


def iterative_record(reproject, rounds, every, features, majority) -> dict:
    """What the iterative protocol did: its settings, how many re-projections, and the
    separation of the segments left after the first pass, in the features and in the first
    head's embedding (trained on the first pass's labels only, so none of these)."""
    record = {
        "metric_rounds": rounds,
        "reproject_every": every,
        "anchored": reproject.anchored,
        "learn": reproject.learn,
        "reprojections": len(reproject.rounds),
        "labelled_before_round": [r.labelled for r in reproject.rounds],
    }
    if reproject.rounds and reproject.learn:
        first = reproject.rounds[0]
        left = np.where(first.remaining, majority, IGNORE)
        record["separation_remaining_before"] = separation_ratio(features, left)
        record["separation_remaining_after"] = separation_ratio(embed(first.head, features), left)
    return record


def iterative_choices(args) -> list[tuple]:
    """(metric rounds, boxes per pass, anchored, learn) per row: each --metric-rounds value at
    each --reproject-every value; --control adds each without metric learning."""
    choices = []
    for rounds in args.metric_rounds:
        for every in args.reproject_every if rounds else [None]:
            learns = [True, False] if rounds and args.control else [True]
            choices += [(rounds, every, args.anchored, learn) for learn in learns]
    return choices


def relabel_after_metric(
    features, majority, space, images, masks, cost, seed, num_classes, settings
) -> dict:
    """Two calls, as the paper's user labelled with metric learning in between: the even frames'
    segments are boxed in their own projection, the head is trained on their labels, and the odd
    frames' segments are boxed in the head's projection (semi-supervised by the even labels)."""
    segments, segment_image = space
    even = np.flatnonzero(segment_image % 2 == 0)
    odd = np.flatnonzero(segment_image % 2 == 1)
    labeller = BoxLabeller(cost, **settings)
    first = labeller.label_segments(
        Projection(seed=seed).fit(features[even]),
        even,
        segments,
        segment_image,
        images,
        masks,
        num_classes,
    )
    table = np.full(len(segment_image), IGNORE, np.uint8)
    table[even] = first.segment_labels
    head, _ = train_head(features, table, seed=seed)
    embedded = embed(head, features)
    targets = np.where(table == IGNORE, UNLABELLED, table.astype(np.int64))
    coords = Projection(seed=seed).fit(embedded, targets)[odd]
    second = labeller.label_segments(
        coords, odd, segments, segment_image, images, masks, num_classes
    )
    table[odd] = second.segment_labels
    labels = propagate_labels(segments, table)
    for result, ids in ((first, even), (second, odd)):
        for k, split in result.splits.items():
            y0, x0, y1, x1 = split.box
            inside = split.labels != IGNORE
            labels[int(segment_image[ids[k]]), y0:y1, x0:x1][inside] = split.labels[inside]
    a, b = first.action_counts(), second.action_counts()
    odd_majority = np.where(segment_image % 2 == 1, majority, IGNORE)
    return {
        **score(labels, masks, num_classes),
        "counts": {k: a[k] + b[k] for k in a},
        "separation_after_metric_odd": separation_ratio(embedded, odd_majority),
        "separation_before_metric_odd": separation_ratio(features, odd_majority),
    }


def upper_bound(space, masks, num_classes) -> dict:
    majority, _ = majority_and_purity(segment_class_counts(space[0], masks, num_classes))
    return score(propagate_labels(space[0], majority), masks, num_classes)


def with_prices(cost, overrides: list[str]) -> dict:
    """The priced entries of ``cost`` as a dict, with ``ENTRY=SECONDS`` overrides."""
    prices = {entry: float(cost[entry]) for entry in ACTION_PRICES.values()}
    for item in overrides:
        name, _, value = item.partition("=")
        if name not in prices:
            raise SystemExit(f"--price {item}: valid entries {', '.join(prices)}")
        prices[name] = float(value)
    return prices


def price_vectors(cost, scaled: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(fixed [K], scaled [K]) prices in ACTION_PRICES order."""
    prices = np.array([cost[entry] for entry in ACTION_PRICES.values()])
    mask = np.array([a in scaled for a in ACTION_PRICES])
    return np.where(mask, 0.0, prices), np.where(mask, prices, 0.0)


def load(
    dataset: str,
    root: str | None,
    hw: tuple[int, int],
    frames: str = "all",
    every: int = 1,
    threshold: float | None = None,
):
    """(images, masks, num_classes, volume threshold) of ``dataset``'s frames: "all" (DAVIS's
    frames, CamVid's training split) or "heldout" (val + test), every ``every``-th of them; the
    threshold is the paper's cut scaled to ``hw`` unless given."""
    hw = tuple(hw)
    if frames == "heldout":  # val + test: frames a segmenter trained on the pool never saw
        root = root or (DAVIS_ROOT if dataset == "davis" else CAMVID_ROOT)
        data = joined(load_dataset(dataset, root=root, hw=hw), ["val", "test"])
    elif dataset == "davis":
        data = load_davis(root or DAVIS_ROOT, hw)
    else:
        data = load_camvid(root or CAMVID_ROOT, "train", hw)
    paper_hw, paper_cut = (PAPER_HW, PAPER_THRESHOLD)
    if dataset == "camvid":
        paper_hw, paper_cut = (CAMVID_HW, CAMVID_THRESHOLD)
    scaled = paper_cut * hw[0] * hw[1] / (paper_hw[0] * paper_hw[1])
    chosen = np.arange(0, len(data.images), every)
    threshold = threshold or scaled
    return data.images[chosen], data.masks[chosen], len(data.classes), threshold


def load_segmenter(path: str, num_classes: int, encoder: str | None = None) -> SmpSegmenter:
    """A segmenter with the weights of ``path``: a segmenter saved by ``SmpSegmenter.save`` or a
    full-supervision reference checkpoint (its best epoch's weights; it names no encoder)."""
    blob = torch.load(path, weights_only=True, map_location="cpu")
    config = dict(blob.get("config", {}))
    config.setdefault("num_classes", num_classes)
    if encoder:
        config["encoder"] = encoder
    keep = ("num_classes", "arch", "encoder", "encoder_weights")
    segmenter = SmpSegmenter(**{k: config[k] for k in keep if k in config})
    segmenter.load_weights(blob["state_dict"] if "state_dict" in blob else blob["best_weights"])
    return segmenter


def learned_gradients(segmenter, images: np.ndarray, mix: float) -> np.ndarray:
    """[N,H,W]: Scharr mixed with a trained segmenter's probability gradient (--boundary-mix)."""
    scharr = [image_gradient(image) for image in images]
    learned = [probability_gradient(p) for p in segmenter.predict_proba(images)]
    return mixed_gradients(scharr, learned, mix)


def mixed_gradients(image_grads, learned, weight: float) -> np.ndarray:
    """[N,H,W]: ``mixed_gradient`` frame by frame."""
    pairs = zip(image_grads, learned, strict=True)
    return np.stack([mixed_gradient(g, m, weight) for g, m in pairs])


def describe(row: dict, frames: int) -> str:
    per = {k: v / frames for k, v in row["counts"].items()}
    quality = f"IoU {row['iou']:.4f}" if "iou" in row else ""
    iterative = ""
    if row.get("metric_rounds"):
        iterative = (
            f" iterative (rounds {row['metric_rounds']}, every {row['reproject_every']}, "
            f"anchored {row['anchored']}, learn {row['learn']}): {row['reprojections']} "
            "re-projections, separation "
            f"of the rest {row.get('separation_remaining_before', float('nan')):.3f} -> "
            f"{row.get('separation_remaining_after', float('nan')):.3f}\n   "
        )
    return (
        f"{iterative}  {row['features']:18s} {row['labeller']:8s} {quality} acc {row['pixel_accuracy']:.4f} mIoU "
        f"{row['miou']:.4f}  sep {row['separation_features']:.3f}/"
        f"{row['separation_projection']:.3f}  per image: {per['boxes']:.2f} boxes "
        f"{per['segments']:.1f} segments {per['singles']:.2f} alone {per['clicks']:.2f} clicks  "
        f"{row['seconds_per_image_shipped']:.1f} s (shipped prices)  cpu "
        + ", ".join(f"{k} {v:.0f}" for k, v in row["cpu_s"].items())
    )


def fit(perfect: dict, cost, fit_on: list[str], labeller: str, scaled_actions: list[str]) -> dict:
    """Prices fitted on a report's perfect partition (Table 1): one scale on ``scaled_actions``,
    the other prices as shipped; each feature choice of ``fit_on`` is one observation of the
    paper's 7.82 s (the residual is their spread)."""
    runs = [
        r
        for r in perfect["settings"]["perfect"]["runs"]
        if r["features"] in fit_on and r["labeller"] == labeller
    ]
    if not runs:
        raise SystemExit(f"--fit-on {fit_on} / {labeller}: no such run on the perfect partition")
    frames = perfect["frames"]
    fixed, scaled = price_vectors(cost, scaled_actions)
    per_image = np.array([[r["counts"][a] / frames for a in ACTION_PRICES] for r in runs])
    target = np.full(len(runs), PAPER["perfect"]["seconds_per_image"])
    scale, residual = fit_price_scale(per_image, fixed, scaled, target)
    prices = dict(zip(ACTION_PRICES.values(), (fixed + scale * scaled).tolist(), strict=True))
    print(
        f"fit on perfect/{fit_on}/{labeller}: scale {scale:.4f}, residual {residual:.4f} "
        f"s/image, prices {prices}"
    )
    return {
        "on": f"perfect/{'+'.join(fit_on)}/{labeller}",
        "frames": frames,
        "scaled": scaled_actions,
        "scale": scale,
        "residual_s_per_image": residual,
        "prices": prices,
    }


def price_report(report: dict, prices: dict) -> None:
    """Every run of ``report`` priced at ``prices`` (the perfect partition: the fit; real
    segments: the prediction), printed beside the paper's figures."""
    for setting, entry in report["settings"].items():
        for row in entry["runs"]:
            row["seconds_per_image_fitted"] = (
                priced_seconds(row["counts"], prices) / report["frames"]
            )
            paper = PAPER[setting]
            print(
                f"  {setting:8s} {report['frames']:3d} frames {row['features']:18s} "
                f"{row['labeller']:8s} {row['seconds_per_image_fitted']:7.2f} s/image at IoU "
                f"{row['iou']:.4f} (paper {paper['seconds_per_image']} at {paper['iou']})"
            )


def reprice(paths: list[str], fit_from: str, cost, args) -> None:
    """Fit on ``fit_from``'s perfect partition, then price the runs stored in ``paths``."""
    perfect = json.loads(Path(fit_from).read_text())
    result = fit(perfect, cost, args.fit_on, args.fit_labeller, args.scaled)
    result["start_prices"] = dict(cost)
    for path in paths:
        report = json.loads(Path(path).read_text())
        print(path)
        price_report(report, result["prices"])
        report["fit"] = {**result, "from": fit_from}
        Path(path).write_text(json.dumps(report, indent=2))


def cache_dir(args, setting: str, threshold: float) -> Path | None:
    """Where the features and coordinates of one data set, cut and frame choice are kept."""
    if not args.cache:
        return None
    cut = f"gt{args.min_area:g}" if setting == "perfect" else f"volume{threshold:.0f}"
    if setting == "real" and args.boundary != "colour":
        cut = f"{args.boundary}{args.regions}"
        if args.boundary == "learned":
            cut += f"_mix{args.boundary_mix:g}_{Path(args.segmenter).stem}"
    if args.frames != "all":
        cut += f"_{args.frames}"
    if any("segmenter" in name for name in args.features + args.metric):
        cut += f"_features_{Path(args.segmenter).stem}"
    hw = "x".join(str(v) for v in args.hw)
    return Path(args.cache) / f"{args.dataset}_{hw}_every{args.every}_{cut}_seed{args.seed}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["davis", "camvid"], default="davis")
    parser.add_argument("--root", default=None)
    parser.add_argument("--hw", type=int, nargs=2, default=None, help="default 240 427 / 180 240")
    parser.add_argument("--every", type=int, default=1, help="every n-th frame")
    parser.add_argument("--threshold", type=float, default=None, help="default: scaled cut")
    parser.add_argument(
        "--min-area",
        type=float,
        default=0.0,
        help="perfect partition: ground-truth components below this fraction of the frame "
        "(annotation specks) join their nearest larger one",
    )
    parser.add_argument(
        "--boundary",
        choices=["colour", "colour_regions", "scharr", "learned"],
        default="colour",
        help="real segments' edge weights: colour distance of neighbours cut at the volume "
        "threshold (colour) or at --regions per frame (colour_regions), Scharr gradient "
        "magnitude cut at --regions per frame (scharr), or Scharr mixed with the probability "
        "gradient of the --segmenter (learned; benchmarks/bench_learned_boundary.py)",
    )
    parser.add_argument(
        "--segmenter",
        default=None,
        help="a trained segmenter (saved, or a full-supervision reference checkpoint), for "
        "--boundary learned and --features segmenter_maps",
    )
    parser.add_argument(
        "--boundary-mix", type=float, default=0.25, help="the learned boundary's weight"
    )
    parser.add_argument(
        "--frames",
        choices=["all", "heldout"],
        default="all",
        help="all frames (with --every), or the val + test splits (held out from a segmenter "
        "trained on the pool, as --segmenter's)",
    )
    parser.add_argument(
        "--regions", type=int, default=413, help="per frame, with scharr, learned, colour_regions"
    )
    parser.add_argument("--settings", nargs="+", default=["perfect", "real"])
    parser.add_argument(
        "--features",
        nargs="*",
        default=["lite0_crop", "lite0_maps", "stats"],
        help="none: upper bound only",
    )
    parser.add_argument(
        "--metric",
        nargs="*",
        default=[],
        help="feature choices rerun as two calls with metric learning between them",
    )
    parser.add_argument(
        "--labellers", nargs="+", default=["careful", "quick"], choices=list(LABELLERS)
    )
    parser.add_argument(
        "--metric-rounds",
        type=int,
        nargs="+",
        default=[0],
        help="the paper's iterative protocol: most re-projections of the unlabelled segments "
        "after metric learning on the labels so far, within one session (0: one projection); "
        "each value is a row",
    )
    parser.add_argument(
        "--reproject-every",
        type=int,
        nargs="+",
        default=[None],
        help="with --metric-rounds: also re-project after this many boxes (default: per pass); "
        "each value is a row",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="with --metric-rounds: also each re-projection without metric learning",
    )
    parser.add_argument(
        "--anchored",
        action="store_true",
        help="with --metric-rounds: re-project the labelled segments too, semi-supervised",
    )
    parser.add_argument(
        "--fit-on", nargs="+", default=["lite0_maps"], help="feature choices of the fit"
    )
    parser.add_argument("--fit-labeller", default="careful", choices=list(LABELLERS))
    parser.add_argument("--scaled", nargs="+", default=["boxes", "segments"])
    parser.add_argument("--costs", default=None, help="costs.yaml (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache", default=None, help="folder keeping features and projections for reruns"
    )
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--reprice",
        nargs="+",
        default=None,
        help="measure nothing: fit on --fit-from's perfect partition, price these reports",
    )
    parser.add_argument("--fit-from", default=None, help="report holding the perfect partition")
    parser.add_argument(
        "--price",
        nargs="*",
        default=[],
        metavar="ENTRY=SECONDS",
        help="override a shipped price before the fit (e.g. feature_space_segment=0)",
    )
    args = parser.parse_args()
    if args.reprice:
        cost = with_prices(CostTable.load(args.costs), args.price)
        reprice(args.reprice, args.fit_from or args.reprice[0], cost, args)
        return
    if args.boundary == "learned" and not args.segmenter:
        parser.error("--boundary learned needs --segmenter")
    args.hw = args.hw or ([240, 427] if args.dataset == "davis" else [180, 240])
    out = Path(args.out or ROOT / f"benchmarks/results/bench_feature_space_{args.dataset}.json")
    torch.set_num_threads(1)

    images, masks, num_classes, threshold = load(
        args.dataset, args.root, args.hw, args.frames, args.every, args.threshold
    )
    frames, hw = len(images), tuple(args.hw)
    cost = CostTable.load(args.costs)
    print(f"{args.dataset}: {frames} frames at {hw[0]}x{hw[1]}, volume cut {threshold:.0f}")
    segmenter = load_segmenter(args.segmenter, num_classes) if args.segmenter else None
    features = Features(segmenter=segmenter)
    report: dict = {
        "dataset": args.dataset,
        "hw": list(hw),
        "frames": frames,
        "threshold": threshold,
        "labellers": {n: labeller_settings(n, hw[0] * hw[1]) for n in args.labellers},
        "settings": {},
    }
    if args.dataset == "davis":
        report["paper"] = PAPER
    else:
        report["dense_seconds_per_image"] = cost["dense_camvid"]
    for setting in args.settings:
        start = clock()
        if setting == "perfect":
            space = ground_truth_segments(masks, int(args.min_area * hw[0] * hw[1]))
        elif args.boundary == "scharr":  # edges from the Scharr gradient, equal segment count
            gradients = np.stack([image_gradient(image) for image in images])
            space = pool_segments(
                images, "volume", None, num_regions=args.regions, gradients=gradients
            )
        elif args.boundary == "learned":  # Scharr mixed with a segmenter's boundary
            gradients = learned_gradients(segmenter, images, args.boundary_mix)
            space = pool_segments(
                images, "volume", None, num_regions=args.regions, gradients=gradients
            )
        elif args.boundary == "colour_regions":  # the colour edges at the same count
            space = pool_segments(images, "volume", None, num_regions=args.regions)
        else:
            space = pool_segments(images, "volume", threshold)
        entry = {
            "segments_per_image": len(space[1]) / frames,
            "upper_bound": upper_bound(space, masks, num_classes),
            "cpu_s_segments": clock() - start,
            "runs": [],
        }
        print(
            f"{setting}: {entry['segments_per_image']:.1f} segments/image, upper bound "
            f"{entry['upper_bound']}",
            flush=True,
        )
        choices = [(f, False) for f in args.features] + [(f, True) for f in args.metric]
        for name, metric in choices:
            for row in run_one(
                name,
                space,
                images,
                masks,
                features,
                cost,
                args.seed,
                metric,
                num_classes,
                args.labellers,
                cache_dir(args, setting, threshold),
                iterative_choices(args),
            ):
                row["seconds_per_image_shipped"] = priced_seconds(row["counts"], cost) / frames
                if args.dataset == "camvid":
                    row["share_of_dense"] = row["seconds_per_image_shipped"] / cost["dense_camvid"]
                entry["runs"].append(row)
                print(describe(row, frames), flush=True)
        report["settings"][setting] = entry
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    if args.dataset == "davis" and "perfect" in report["settings"] and args.features:
        report["fit"] = fit(report, cost, args.fit_on, args.fit_labeller, args.scaled)
        price_report(report, report["fit"]["prices"])
        out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
