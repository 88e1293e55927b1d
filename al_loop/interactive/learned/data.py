"""What ``train-interactive`` trains on: data sets and splits, their objects, copy-paste
composites, and the record of the images seen (written with the weights, see provenance.py).

- ``datasets``: a list of data sets of the registry, each with its splits. Besides the loader's
  ``train`` / ``val`` / ``test``, DAVIS has DAVIS-2016's own video split: ``train_videos`` (its
  30 train videos, frames 000-207) and ``heldout_videos`` (its 20 val videos, 208-344), so that
  DAVIS figures come from videos the model never saw. GrabCut is refused: it is the test set.
- Objects: each class of an image, or each 8-connected component of one (``objects``), at
  least ``min_object_pixels`` at the training size; the data set's background class (DAVIS,
  synthetic: 0) is not an object; where every class is one (CamVid: sky, buildings, road, cars,
  poles...), class 0 is too. Ignore pixels (CamVid's void) never are. Objects are stored as the
  crop of their box: CamVid's thousands of components would not fit as whole-image masks.
- Copy-paste (``copy_paste.probability``): objects cut from other images are pasted onto an
  image (several, at random places and scales, later ones covering earlier ones), and one of
  the pasted objects is the target: the image holds several plausible objects, so only the
  clicks say which one is meant, not saliency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from al_loop.core.config import DatasetConfig
from al_loop.core.errors import DataError
from al_loop.data.base import IGNORE, DatasetSplits, SegmentationData
from al_loop.interactive.learned.provenance import record

SPLITS = ("train", "val", "test")
# DAVIS-2016's split of the 50 videos (al_loop.data.benchmarks.DAVIS_VIDEOS lists the 30 train
# videos first): video indices [low, high)
DAVIS_VIDEO_SPLITS = {"train_videos": (0, 30), "heldout_videos": (30, 50)}
EXTRA_SPLITS = {"davis": DAVIS_VIDEO_SPLITS}
TEST_ONLY = {"grabcut": "GrabCut is the NoC test set: never train on it"}


class TrainDataset(DatasetConfig):
    """One data set of the registry, the splits trained on, and its own smallest object."""

    splits: list[str] = list(SPLITS)
    min_object_pixels: int | None = Field(None, ge=1)  # None: the config's
    # the classes whose regions are objects, by name (e.g. CamVid's Car, Pedestrian, Pole...,
    # leaving out Sky and Road); None: every class but the background. Unset, it is left out of
    # dumps, so resume fingerprints of checkpoints written before it existed still match.
    object_classes: list[str] | None = Field(None, exclude_if=lambda v: v is None)

    @model_validator(mode="after")
    def _check(self) -> TrainDataset:
        if self.name in TEST_ONLY:
            raise ValueError(f"{self.name}: {TEST_ONLY[self.name]}")
        valid = [*SPLITS, *EXTRA_SPLITS.get(self.name, {})]
        unknown = [s for s in self.splits if s not in valid]
        if unknown or not self.splits:
            raise ValueError(
                f"splits of {self.name}: unknown {unknown[0] if unknown else 'empty list'}; "
                f"valid: {', '.join(valid)}"
            )
        return self


class CopyPasteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    probability: float = Field(0.0, ge=0, le=1)  # of a sample being a composite
    objects: tuple[int, int] = (2, 4)  # pasted per composite, low..high
    scale: tuple[float, float] = (0.75, 1.25)  # random resize of each pasted object
    # objects whose box covers more of their image are not pasted (a road or sky would cover
    # the whole background)
    max_box_fraction: float = Field(0.25, gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> CopyPasteConfig:
        if not 1 <= self.objects[0] <= self.objects[1]:
            raise ValueError("objects must be (low, high) with 1 <= low <= high")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError("scale must be (low, high) with 0 < low <= high")
        return self


# ------------------------------------------------------------------------------------ objects


@dataclass(frozen=True)
class TrainObject:
    """An object of image ``image``: ``mask`` (bool) is the crop of its box at (top, left)."""

    image: int
    top: int
    left: int
    mask: np.ndarray

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        out = np.zeros(shape, bool)
        h, w = self.mask.shape
        out[self.top : self.top + h, self.left : self.left + w] = self.mask
        return out

    @property
    def box_area(self) -> int:
        return int(self.mask.shape[0] * self.mask.shape[1])


def crop_object(index: int, region: np.ndarray) -> TrainObject:
    ys, xs = np.nonzero(region)
    top, left = int(ys.min()), int(xs.min())
    mask = region[top : int(ys.max()) + 1, left : int(xs.max()) + 1].copy()
    return TrainObject(index, top, left, mask)


def collect_objects(
    masks: Sequence[np.ndarray],
    objects: str,
    min_pixels: int,
    background: int | None = 0,
    first_index: int = 0,
    keep: frozenset[int] | None = None,
) -> list[TrainObject]:
    """Every object of ``masks`` (module docstring), of the classes in ``keep`` when given;
    image indices start at ``first_index``."""
    found = []
    for index, mask in enumerate(masks, start=first_index):
        for cls in np.unique(mask):
            if cls == IGNORE or (background is not None and cls == background):
                continue
            if keep is not None and int(cls) not in keep:
                continue
            region = mask == cls
            if objects == "class":
                parts = [region]
            else:
                count, comp = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
                parts = [comp == k for k in range(1, count)]
            found.extend(crop_object(index, p) for p in parts if int(p.sum()) >= min_pixels)
    return found


@dataclass
class TrainingSet:
    images: Sequence[np.ndarray]  # uint8 [H,W,3] each (sizes may differ between datasets)
    valid: Sequence[np.ndarray]  # bool [H,W] each: not IGNORE
    objects: list[TrainObject]
    # provenance.record()s of the images trained on, and of the loaded ones left out
    trained_on: list[dict[str, Any]] = field(default_factory=list)
    held_out: list[dict[str, Any]] = field(default_factory=list)
    _pasteable: dict[float, np.ndarray] = field(default_factory=dict, repr=False)

    def pasteable(self, max_box_fraction: float) -> np.ndarray:
        """Indices of the objects small enough to paste (cached)."""
        if max_box_fraction not in self._pasteable:
            self._pasteable[max_box_fraction] = np.array(
                [
                    k
                    for k, o in enumerate(self.objects)
                    if o.box_area <= max_box_fraction * self.valid[o.image].size
                ],
                dtype=np.int64,
            )
        return self._pasteable[max_box_fraction]


def training_set(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    objects: str,
    min_pixels: int,
    trained_on: list[dict[str, Any]] | None = None,
) -> TrainingSet:
    """Objects of in-memory images and masks (background class 0); DataError if none."""
    found = collect_objects(masks, objects, min_pixels)
    if not found:
        raise DataError(f"no object of at least {min_pixels} pixels to train on")
    return TrainingSet(list(images), [m != IGNORE for m in masks], found, trained_on or [])


# ------------------------------------------------------------------------------- data sets


def video_split(data: SegmentationData, split: str) -> SegmentationData:
    """The frames of ``data`` in DAVIS-2016 video split ``split``."""
    from al_loop.data.benchmarks import davis_video_ids

    videos = davis_video_ids(list(data.names))
    if videos is None:
        raise DataError(
            f"{data.source}: video splits need the 345 DAVIS frames named 000..344 "
            f"(got {data.names[:2]}...)"
        )
    low, high = DAVIS_VIDEO_SPLITS[split]
    return data.subset(np.flatnonzero((videos >= low) & (videos < high)))


def davis_videos(names: Sequence[str]) -> list[str]:
    """The DAVIS videos of frames ``names`` (000..344), or [] if they are not those frames."""
    from al_loop.data.benchmarks import DAVIS_VIDEOS, davis_video_ids

    videos = davis_video_ids(list(names))
    return [] if videos is None else sorted({DAVIS_VIDEOS[v][1] for v in videos})


def split_parts(name: str, splits: DatasetSplits, split: str) -> list[SegmentationData]:
    """The non-empty data of ``split``: a loader's split, or a video split of all of them."""
    if split in SPLITS:
        parts = [getattr(splits, split)]
    else:
        parts = [video_split(p, split) for p in (splits.train, splits.val, splits.test) if len(p)]
    parts = [p for p in parts if p is not None and len(p)]
    if any(p.masks is None for p in parts):
        raise DataError(f"dataset {name}: training needs masks")
    return parts


def object_class_ids(dataset: TrainDataset, splits: DatasetSplits) -> frozenset[int] | None:
    """The ids of ``dataset.object_classes`` (None: every class); an unknown name is a
    one-line DataError listing the data set's classes."""
    if dataset.object_classes is None:
        return None
    ids = {c.name: k for k, c in enumerate(splits.classes)}
    unknown = [n for n in dataset.object_classes if n not in ids]
    if unknown or not dataset.object_classes:
        raise DataError(
            f"object_classes of {dataset.name}: unknown {unknown[0] if unknown else 'empty list'}"
            f"; valid: {', '.join(ids)}"
        )
    return frozenset(ids[n] for n in dataset.object_classes)


def provenance(dataset: TrainDataset, split: str, names: Sequence[str]) -> dict[str, Any]:
    """The record of ``names`` of ``dataset``'s ``split`` (DAVIS: with their videos)."""
    videos = davis_videos(names) if dataset.name == "davis" else []
    extra = {"videos": videos} if videos else {}
    return record(dataset.name, dict(dataset.params), split, names, **extra)


def load_training_set(
    datasets: Sequence[TrainDataset], objects: str, min_pixels: int
) -> TrainingSet:
    """The images and objects of every data set's splits, with the record of what was used."""
    from al_loop.data import load_dataset

    images: list[np.ndarray] = []
    valid: list[np.ndarray] = []
    found: list[TrainObject] = []
    trained_on, held_out = [], []
    for dataset in datasets:
        splits = load_dataset(dataset.name, **dataset.params)
        keep = object_class_ids(dataset, splits)
        used: set[str] = set()
        for split in dataset.splits:
            parts = split_parts(dataset.name, splits, split)
            if not parts:
                raise DataError(f"dataset {dataset.name}: split {split} is empty")
            names = [n for p in parts for n in p.names]
            trained_on.append(provenance(dataset, split, names))
            used.update(names)
            for part in parts:
                found += collect_objects(
                    part.masks,
                    objects,
                    dataset.min_object_pixels or min_pixels,
                    part.background,
                    first_index=len(images),
                    keep=keep,
                )
                images.extend(part.images)
                valid.extend(part.masks != IGNORE)
        rest = [n for s in (splits.train, splits.val, splits.test) for n in s.names]
        rest = [n for n in rest if n not in used]
        if rest:
            held_out.append(provenance(dataset, "not trained on", rest))
    if not found:
        raise DataError(f"no object of at least {min_pixels} pixels to train on")
    return TrainingSet(images, valid, found, trained_on, held_out)


# ------------------------------------------------------------------------------ copy-paste


def paste_objects(
    background: np.ndarray,
    valid: np.ndarray,
    pieces: Sequence[tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    scale: tuple[float, float] = (1.0, 1.0),
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(image, valid, visible masks): each piece (RGB crop [h,w,3], its bool mask [h,w]) resized
    by a random factor in ``scale`` (less if it would not fit), pasted in order at a random
    place; a later piece covers earlier ones, so each mask is what remains visible."""
    image, valid = background.copy(), valid.copy()
    height, width = valid.shape
    visible: list[np.ndarray] = []
    for rgb, mask in pieces:
        h, w = mask.shape
        factor = min(rng.uniform(*scale), height / h, width / w)
        if factor != 1.0:
            size = (max(1, round(w * factor)), max(1, round(h * factor)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
            mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
            h, w = mask.shape
        y, x = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
        window = (slice(y, y + h), slice(x, x + w))
        image[window][mask] = rgb[mask]
        valid[window] |= mask
        placed = np.zeros((height, width), bool)
        placed[window] = mask
        for earlier in visible:
            earlier &= ~placed
        visible.append(placed)
    return image, valid, visible


def composite(
    data: TrainingSet, config: CopyPasteConfig, min_pixels: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(image, target mask, valid) of a copy-paste composite, or None if no pasted object stays
    visible over ``min_pixels``."""
    candidates = data.pasteable(config.max_box_fraction)
    if len(candidates) == 0:
        return None
    base = int(rng.integers(len(data.images)))
    count = int(rng.integers(config.objects[0], config.objects[1] + 1))
    pieces = []
    for k in rng.choice(candidates, size=count):
        obj = data.objects[int(k)]
        h, w = obj.mask.shape
        crop = data.images[obj.image][obj.top : obj.top + h, obj.left : obj.left + w]
        pieces.append((crop, obj.mask))
    image, valid, visible = paste_objects(
        data.images[base], data.valid[base], pieces, rng, config.scale
    )
    targets = [m for m in visible if int(m.sum()) >= min_pixels]
    if not targets:
        return None
    return image, targets[int(rng.integers(len(targets)))], valid
