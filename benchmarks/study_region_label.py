"""What region labelling (one click per region, its majority class) costs and how right it is,
on CamVid grid cells and superpixel units, for a few cuts of the superpixel hierarchy.

For every unit of a sample of pool images: regions (clicks), seconds at the ``region_label``
price, the share of labelled ground-truth pixels that get their true class (label purity), also
per rare class, and the labels' own mIoU and rare-class IoU against the ground truth: the ceiling
of a model trained on them (every unit labelled; a pixel left unlabelled counts as wrong). Writes
benchmarks/results/study_region_label.json.

    PYTHONPATH=$PWD nice .venv/bin/python benchmarks/study_region_label.py [--images 20]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from al_loop.annotators.region_label import PRICE_ENTRY, RegionLabelAnnotator
from al_loop.core.cost import CostTable
from al_loop.core.metrics import confusion_matrix, iou_per_class, pixel_accuracy
from al_loop.core.units import make_unit_space
from al_loop.data import CAMVID_RARE_CLASSES, load_camvid
from al_loop.data.base import IGNORE

RESULTS = Path(__file__).parent / "results" / "study_region_label.json"


def measure(pool, space, annotator) -> dict:
    clicks, seconds = [], []
    rare = [pool.classes.index(c) for c in pool.classes if c.name in CAMVID_RARE_CLASSES]
    num_classes = len(pool.classes)
    unlabelled = num_classes  # an extra class: a pixel left unlabelled is a miss of its class
    confusion = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    for unit in space.units():
        box, unit_mask = space.box(unit), space.mask(unit)
        annotation = annotator.annotate(unit, pool.images[unit.image], box, unit_mask)
        y0, x0, y1, x1 = box
        gt = pool.masks[unit.image, y0:y1, x0:x1]
        scored = unit_mask & (gt != IGNORE)
        given = np.where(annotation.mask == IGNORE, unlabelled, annotation.mask)
        confusion += confusion_matrix(given[scored], gt[scored], num_classes + 1)
        clicks.append(len(annotation.interactions))
        seconds.append(annotation.seconds)
    iou = iou_per_class(confusion)[:num_classes]
    rare_rows = confusion[rare]
    return {
        "units": len(clicks),
        "clicks_per_unit": round(float(np.mean(clicks)), 2),
        "seconds_per_unit": round(float(np.mean(seconds)), 2),
        "seconds_per_image": round(float(np.sum(seconds)) / len(pool), 1),
        "label_purity": round(pixel_accuracy(confusion), 4),
        "rare_purity": round(float(rare_rows[:, rare].trace()) / max(int(rare_rows.sum()), 1), 4),
        # the labels scored like a prediction: the ceiling of a model trained on them
        "label_miou": round(float(np.nanmean(iou)), 4),
        **{f"label_iou_{pool.classes[c].name.lower()}": round(float(iou[c]), 3) for c in rare},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--hw", type=int, nargs=2, default=[180, 240])
    args = parser.parse_args()
    pool = load_camvid(split="train", hw=tuple(args.hw), limit=args.images)
    price = CostTable.load()[PRICE_ENTRY]
    rows = []
    for cell in (60,):
        space = make_unit_space("grid", len(pool), pool.hw, cell=cell)
        for threshold in (50, 100, 200, 400, 800):
            annotator = RegionLabelAnnotator(pool.masks, price, 11, split=True, threshold=threshold)
            rows.append({"units": f"grid {cell}", "threshold": threshold,
                         **measure(pool, space, annotator)})  # fmt: skip
    for threshold in (25, 50, 100, 200, 400):
        space = make_unit_space("superpixel", len(pool), pool.hw, images=pool.images,
                                threshold=threshold)  # fmt: skip
        annotator = RegionLabelAnnotator(pool.masks, price, 11, split=False)
        rows.append({"units": "superpixel", "threshold": threshold,
                     **measure(pool, space, annotator)})  # fmt: skip
    for row in rows:
        print(json.dumps(row))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"images": len(pool), "hw": args.hw, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
