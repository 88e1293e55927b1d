"""Segment boundaries for feature-space annotation: a learned boundary against the image's.

Bragantini et al. (2022) cut their segments on a learned saliency gradient (PoolNet). Here the
learned boundary is the gradient of a trained segmenter's class probabilities (the loop has one
every round), alone and mixed with the image's Scharr gradient; the image-only choices are the
colour distance of neighbours (the annotator's default) and the Scharr gradient. Every boundary
is cut at the same number of segments per frame, the count the colour distance gives at the
paper's volume cut (1000 at 480x854, scaled by the pixel area), and scored by its upper bound:
every segment given its majority ground-truth label, mean object IoU and pixel accuracy. The
frames are the data set's val and test splits, which the segmenter never trained on.

    # the DAVIS study's full-supervision model (seed 0), e.g. from its reference checkpoint:
    python benchmarks/bench_learned_boundary.py --weights runs/davis_reference_seed0.pt

``--weights`` takes a segmenter saved by ``SmpSegmenter.save`` or a full-supervision reference
checkpoint (``runs/<sweep>/references/<key>.checkpoint.pt``: its best epoch's weights).
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

from bench_feature_space_paper import (  # noqa: E402
    load,
    load_segmenter,
    mixed_gradients,
    score,
    upper_bound,
)

from al_loop.core.segments import image_gradient, probability_gradient  # noqa: E402
from al_loop.feature_space import pool_segments  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True, help="segmenter or reference checkpoint")
    parser.add_argument("--dataset", choices=["davis", "camvid"], default="davis")
    parser.add_argument("--root", default=None)
    parser.add_argument("--hw", type=int, nargs=2, default=[256, 448], help="the segmenter's")
    parser.add_argument("--encoder", default=None, help="when the checkpoint does not say")
    parser.add_argument("--mix", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    parser.add_argument("--limit", type=int, default=None, help="first N held-out frames")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/learned_boundary.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    images, masks, num_classes, volume = load(args.dataset, args.root, args.hw, "heldout")
    images, masks = images[: args.limit], masks[: args.limit]
    print(f"{args.dataset}: {len(images)} held-out frames at {args.hw[0]}x{args.hw[1]}")

    start = time.process_time()
    segmenter = load_segmenter(args.weights, num_classes, args.encoder)
    probs = segmenter.predict_proba(images)
    model_quality = score(probs.argmax(axis=1), masks, num_classes)
    print(f"segmenter: {time.process_time() - start:.0f} CPU s, {model_quality}")

    colour, _ = pool_segments(images, "volume", volume)
    regions = round((colour.max() + 1) / len(images))
    scharr = np.stack([image_gradient(image) for image in images])
    learned = np.stack([probability_gradient(p) for p in probs])

    def cut(gradients: np.ndarray | None) -> np.ndarray:
        """The frames' segments at ``regions`` per frame (colour distance when None)."""
        return pool_segments(images, "volume", None, num_regions=regions, gradients=gradients)[0]

    cuts = {
        "colour distance (volume cut)": lambda: colour,
        "colour distance": lambda: cut(None),
        "Scharr": lambda: cut(scharr),
        "learned (probability gradient)": lambda: cut(learned),
    }
    for weight in args.mix:
        cuts[f"Scharr + learned x{weight:g}"] = lambda w=weight: cut(
            mixed_gradients(scharr, learned, w)
        )
    measure = "iou" if num_classes == 2 else "miou"  # DAVIS: mean object IoU per frame
    rows = []
    for name, segments_of in cuts.items():
        start = time.process_time()
        segments = segments_of()
        row = {
            "boundary": name,
            "segments_per_frame": (segments.max() + 1) / len(images),
            **upper_bound((segments, None), masks, num_classes),
            "cpu_s": time.process_time() - start,
        }
        rows.append(row)
        print(
            f"{name:34s} {row['segments_per_frame']:6.1f} segments/frame  upper bound "
            f"{measure} {row[measure]:.4f}  pixel accuracy {row['pixel_accuracy']:.4f}",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "frames": len(images),
                "hw": args.hw,
                "volume": volume,
                "rows": rows,
                "segmenter": model_quality,
                "weights": args.weights,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
