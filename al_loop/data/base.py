"""The in-memory data model every part shares: images and masks at working resolution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from al_loop.core.errors import DataError

IGNORE = 255  # mask value for "unlabelled / do not score"
BACKGROUND = 0  # class id 0 is the background in every dataset here; objects are the others
# meta key: the cost entry (configs/costs.yaml) of labelling one image of this data densely by
# hand, where the data set's authors published one (CamVid); others are priced by polygons
DENSE_COST = "dense_cost"
# meta key: the background class id, or None where every class is an object to outline (dense
# street scenes: CamVid's class 0 is Sky); absent means BACKGROUND
BACKGROUND_KEY = "background"
# meta key: names of the classes a study watches (rare ones: what class-weighted rewards and
# class balance are for); a tuple, so a subset of images keeps it whole
RARE_KEY = "rare_classes"


@dataclass(frozen=True)
class ClassInfo:
    name: str
    color: tuple[int, int, int]


@dataclass
class SegmentationData:
    """N images of one split, resized to the working resolution.

    ``images``: uint8 [N, H, W, 3] RGB. ``masks``: uint8 [N, H, W] class ids with ``IGNORE``
    for unlabelled pixels, or None for a pool without ground truth (a human labels it).
    """

    names: list[str]
    images: np.ndarray
    masks: np.ndarray | None
    classes: list[ClassInfo]
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.names)
        if self.images.ndim != 4 or self.images.shape[0] != n or self.images.shape[-1] != 3:
            raise DataError(
                f"{self.source}: images must be [N,H,W,3] for {n} names, got {self.images.shape}"
            )
        if self.images.dtype != np.uint8:
            raise DataError(f"{self.source}: images must be uint8, got {self.images.dtype}")
        if self.masks is not None:
            if self.masks.shape != self.images.shape[:3]:
                raise DataError(
                    f"{self.source}: masks {self.masks.shape} do not match images {self.images.shape[:3]}"
                )
            if self.masks.dtype != np.uint8:
                raise DataError(f"{self.source}: masks must be uint8, got {self.masks.dtype}")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def background(self) -> int | None:
        """The class a simulated user leaves as it is (pixels default to it), or None when
        every class is an object that costs interactions."""
        return self.meta.get(BACKGROUND_KEY, BACKGROUND)

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    def subset(self, indices) -> SegmentationData:
        idx = np.asarray(indices, dtype=np.int64)
        return SegmentationData(
            names=[self.names[i] for i in idx],
            images=self.images[idx],
            masks=None if self.masks is None else self.masks[idx],
            classes=self.classes,
            source=self.source,
            meta={k: _take(v, idx, len(self)) for k, v in self.meta.items()},
        )

    def class_frequencies(self) -> np.ndarray:
        """Fraction of labelled pixels per class (ignore excluded)."""
        if self.masks is None:
            raise DataError(f"{self.source}: no masks, so no class frequencies")
        counts = np.bincount(self.masks.ravel(), minlength=256)[: self.num_classes].astype(
            np.float64
        )
        return counts / max(counts.sum(), 1.0)


def concatenate(parts: Sequence[SegmentationData]) -> SegmentationData:
    """The images of ``parts`` one after another (e.g. two splits of one dataset). They must
    share classes and size, and all have masks or none; per-image metadata is joined, the rest
    is the first part's."""
    if not parts:
        raise DataError("nothing to concatenate")
    first = parts[0]
    for part in parts[1:]:
        if part.classes != first.classes or part.hw != first.hw:
            raise DataError(
                f"{part.source}: classes or size {part.hw} differ from {first.source}'s {first.hw}"
            )
        if (part.masks is None) != (first.masks is None):
            raise DataError(f"{part.source}: masks present in some parts and not in others")
    counts = [len(p) for p in parts]
    meta = {}
    for key, value in first.meta.items():
        per_image = [p.meta.get(key) for p in parts]
        if all(_is_per_image(v, n) for v, n in zip(per_image, counts, strict=True)):
            meta[key] = (
                np.concatenate(per_image)
                if isinstance(value, np.ndarray)
                else [x for v in per_image for x in v]
            )
        else:
            meta[key] = value
    return SegmentationData(
        names=[name for p in parts for name in p.names],
        images=np.concatenate([p.images for p in parts]),
        masks=None if first.masks is None else np.concatenate([p.masks for p in parts]),
        classes=first.classes,
        source="+".join(dict.fromkeys(p.source for p in parts)),
        meta=meta,
    )


def _is_per_image(value, n: int) -> bool:
    """One entry per image: what follows a subset or a concatenation."""
    if isinstance(value, np.ndarray):
        return value.ndim >= 1 and len(value) == n
    return isinstance(value, list) and len(value) == n


def _take(value, idx: np.ndarray, n: int):
    """Per-image metadata (one entry per image) follows a subset; anything else is kept whole."""
    if not _is_per_image(value, n):
        return value
    return value[idx] if isinstance(value, np.ndarray) else [value[i] for i in idx]


@dataclass
class DatasetSplits:
    """``train`` is the pool the loop labels; ``val`` scores each round; ``test`` is held out."""

    train: SegmentationData
    val: SegmentationData
    test: SegmentationData

    @property
    def classes(self) -> list[ClassInfo]:
        return self.train.classes
