"""NoC benchmark: interactions (and seconds) an interactive method needs to reach an IoU.

Standard protocol (RITM's evaluation): a fresh simulated user per image, up to 20 interactions,
targets 0.85 and 0.90, probability outputs thresholded at 0.49, ignore pixels (GrabCut's 128
band) neither errors nor in the IoU; an image that never reaches a target counts the cap.
Every interaction counts one, the opening one of box-like methods (extreme points, box, IOG,
polygon) included, so all methods share one table; seconds come from the cost model.
The session stops at the highest target and later IoUs repeat the last one (``full_curve``
runs all interactions instead).

This module holds the protocol, the threshold and the scores; the runner that puts a simulated
user in front of a method, image by image, is ``al_loop.annotators.noc``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from al_loop.core.errors import DataError
from al_loop.core.metrics import clicks_to_iou
from al_loop.core.protocols import InteractiveMethod
from al_loop.data import load_davis_samples, load_grabcut_samples
from al_loop.data.folder import load_folder_samples

TARGETS = (0.85, 0.90)
MAX_INTERACTIONS = 20
PROB_THRESHOLD = 0.49
CURVE_POINTS = (1, 2, 3, 5, 10, 20)


@dataclass
class ImageRecord:
    """One image's run: IoU and cumulative seconds after each interaction."""

    name: str
    ious: list[float]
    seconds: list[float]
    kinds: list[str]  # interaction type names, in order


class Thresholded:
    """A method whose sessions' masks are binarised at ``threshold`` (for probability outputs)."""

    def __init__(self, method: InteractiveMethod, threshold: float = PROB_THRESHOLD):
        self.method, self.threshold = method, threshold
        self.name, self.interaction = method.name, method.interaction

    def start(self, image, initial_mask=None):
        return _ThresholdedSession(self.method.start(image, initial_mask), self.threshold)


class _ThresholdedSession:
    def __init__(self, session, threshold: float):
        self.session, self.threshold = session, threshold

    @property
    def mask(self) -> np.ndarray:
        return binarize(self.session.mask, self.threshold)

    def add(self, interaction) -> np.ndarray:
        return binarize(self.session.add(interaction), self.threshold)


def binarize(mask: np.ndarray, threshold: float = PROB_THRESHOLD) -> np.ndarray:
    mask = np.asarray(mask)
    return mask if mask.dtype == bool else mask > threshold


def iou_after(record: ImageRecord, k: int) -> float:
    """IoU after ``k`` interactions; the last one repeats after the session stopped, 0 before
    any interaction."""
    if not record.ious:
        return 0.0
    return record.ious[min(k, len(record.ious)) - 1]


def seconds_to(record: ImageRecord, target: float) -> float:
    """Seconds (cost model) until the IoU first reaches ``target``; all seconds spent if never."""
    for iou, seconds in zip(record.ious, record.seconds, strict=True):
        if iou >= target:
            return seconds
    return record.seconds[-1] if record.seconds else 0.0


def summarize(
    records: Sequence[ImageRecord],
    targets: Sequence[float] = TARGETS,
    max_interactions: int = MAX_INTERACTIONS,
    curve_points: Iterable[int] = CURVE_POINTS,
) -> dict[str, float]:
    """Mean NoC@t, seconds-to-t, images never reaching the highest target, mIoU@k."""
    if not records:
        raise DataError("NoC: no images")
    row: dict[str, float] = {"images": len(records)}
    for t in targets:
        tag = f"{round(100 * t)}"
        row[f"noc{tag}"] = float(
            np.mean([clicks_to_iou(r.ious, t, max_interactions) for r in records])
        )
        row[f"seconds{tag}"] = float(np.mean([seconds_to(r, t) for r in records]))
    top = max(targets)
    row[f"failed{round(100 * top)}"] = sum(
        not any(i >= top for i in r.ious[:max_interactions]) for r in records
    )
    for k in curve_points:
        if k <= max_interactions:
            row[f"miou@{k}"] = float(np.mean([iou_after(r, k) for r in records]))
    return row


def write_csv(records: Sequence[ImageRecord], path: Path, max_interactions: int) -> Path:
    """Per image: NoC@targets, seconds-to-targets and the IoU after each interaction."""
    columns = ["image"]
    columns += [f"noc{round(100 * t)}" for t in TARGETS]
    columns += [f"seconds{round(100 * t)}" for t in TARGETS]
    columns += [f"iou@{k}" for k in range(1, max_interactions + 1)]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in records:
            writer.writerow(
                [r.name]
                + [clicks_to_iou(r.ious, t, max_interactions) for t in TARGETS]
                + [round(seconds_to(r, t), 2) for t in TARGETS]
                + [round(iou_after(r, k), 4) for k in range(1, max_interactions + 1)]
            )
    return path


def plot_curve(curves: dict[str, Sequence[ImageRecord]], path: Path, max_interactions: int) -> Path:
    """mIoU vs interactions, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = np.arange(1, max_interactions + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, records in curves.items():
        ax.plot(ks, [np.mean([iou_after(r, k) for r in records]) for k in ks], label=name)
    for t in TARGETS:
        ax.axhline(t, color="grey", lw=0.5, ls="--")
    ax.set_xlabel("interactions")
    ax.set_ylabel("mean IoU")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """A plain-text table, one line per method."""
    top = f"failed{round(100 * max(TARGETS))}"
    head = (
        f"{'method':24s} {'images':>6s} {'NoC@85':>7s} {'NoC@90':>7s} {'>=20@90':>7s} "
        f"{'s@85':>7s} {'s@90':>7s} {'IoU@1':>6s} {'IoU@3':>6s} {'IoU@5':>6s}"
    )
    lines = [head]
    for name, r in rows.items():
        lines.append(
            f"{name:24s} {r['images']:6.0f} {r['noc85']:7.2f} {r['noc90']:7.2f} {r[top]:7.0f} "
            f"{r['seconds85']:7.1f} {r['seconds90']:7.1f} {r.get('miou@1', 0):6.3f} "
            f"{r.get('miou@3', 0):6.3f} {r.get('miou@5', 0):6.3f}"
        )
    return "\n".join(lines)


def noc_source(root: str | Path) -> str:
    """Which images ``root`` holds, as the weights' metadata names them (learned/provenance.py):
    "grabcut", "davis" or "folder:/absolute/root"."""
    root = Path(root)
    if (root / "boundary_GT").is_dir():
        return "grabcut"
    if (root / "img").is_dir() and (root / "gt").is_dir():
        return "davis"
    if not (root / "images").is_dir():
        raise DataError(
            f"{root}: not a NoC dataset (expected data_GT/+boundary_GT/, img/+gt/ or images/+masks/)"
        )
    return f"folder:{root.resolve()}"


def load_noc_samples(root: str | Path, limit: int | None = None) -> list:
    """Native-size samples of GrabCut (``data_GT/`` + ``boundary_GT/``), DAVIS (``img/`` +
    ``gt/``) or a dataset folder (``images/`` + ``masks/``; every non-background class is the
    object)."""
    source = noc_source(root)
    if source == "grabcut":
        return load_grabcut_samples(root, limit)
    if source == "davis":
        return load_davis_samples(root, limit)
    samples, _ = load_folder_samples(root, require_masks=True, limit=limit)
    return samples  # each at its own size: the protocol scores images as they are
