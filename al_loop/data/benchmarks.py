"""The interactive-segmentation benchmarks in ``../shared/datasets`` (read in place, read-only).

Both are binary: classes ``[background, object]``. Mask encodings (see that folder's README):

- GrabCut: ``data_GT/NAME.(jpg|JPG|bmp)`` with ``boundary_GT/NAME.bmp``: 0 background,
  255 object -> 1, 128 uncertain boundary band -> ``IGNORE``. 50 images, 284x398 to 640x600.
- DAVIS: ``img/NNN.jpg`` with ``gt/NNN.png`` (3 channels, any non-zero pixel is object -> 1).
  345 frames of 854x480 from the 50 DAVIS-2016 videos.

The NoC protocol needs native sizes: ``load_*_samples`` return ``Sample(name, image, mask)``
tuples at native resolution. ``load_grabcut`` / ``load_davis`` stack one ``SegmentationData``
at a working resolution for training:

- DAVIS default ``DAVIS_HW = (256, 448)``: both divisible by 32 (smp encoders downsample 32x),
  aspect 1.75 against the native 1.78, 3.6x fewer pixels than native for CPU training.
- GrabCut default ``GRABCUT_HW = (384, 384)``: the images are portrait and landscape, so no
  single aspect fits; a square distorts both alike. ``hw=None`` (native) is refused, as sizes vary.

DAVIS frames are consecutive frames of 2-10 per video: near duplicates. ``meta["groups"]``
holds the video index of each frame (``DAVIS_VIDEOS``, checked by eye against the frames) so
that splits can keep whole videos together.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from al_loop.core.errors import ConfigError, DataError
from al_loop.data.base import IGNORE, ClassInfo, SegmentationData
from al_loop.data.folder import Sample, read_image, stack_samples

GRABCUT_ROOT = "../shared/datasets/GrabCut"
DAVIS_ROOT = "../shared/datasets/DAVIS"
GRABCUT_HW = (384, 384)
DAVIS_HW = (256, 448)
BINARY_CLASSES = [ClassInfo("background", (0, 0, 0)), ClassInfo("object", (255, 64, 64))]
GRABCUT_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".bmp", ".png")

# (first frame, video) of the 345 DAVIS frames: the 30 DAVIS-2016 train videos, then the 20 val
# videos, each in alphabetical order.
DAVIS_VIDEOS = (
    (0, "bear"), (8, "bmx-bumps"), (16, "boat"), (24, "breakdance-flare"), (31, "bus"),
    (39, "car-turn"), (47, "dance-jump"), (53, "dog-agility"), (55, "drift-turn"),
    (61, "elephant"), (69, "flamingo"), (77, "hike"), (85, "hockey"), (93, "horsejump-low"),
    (99, "kite-walk"), (107, "lucia"), (114, "mallard-fly"), (121, "mallard-water"),
    (129, "motocross-bumps"), (135, "motorbike"), (139, "paragliding"), (146, "rhino"),
    (155, "rollerblade"), (159, "scooter-gray"), (167, "soccerball"), (172, "stroller"),
    (181, "surf"), (187, "swing"), (193, "tennis"), (200, "train"),
    (208, "blackswan"), (213, "bmx-trees"), (221, "breakdance"), (229, "camel"),
    (238, "car-roundabout"), (246, "car-shadow"), (250, "cows"), (260, "dance-twirl"),
    (269, "dog"), (275, "drift-chicane"), (280, "drift-straight"), (285, "goat"),
    (294, "horsejump-high"), (299, "kite-surf"), (304, "libby"), (309, "motocross-jump"),
    (313, "paragliding-launch"), (321, "parkour"), (331, "scooter-black"), (335, "soapbox"),
)  # fmt: skip
DAVIS_NUM_FRAMES = 345


def _root(root: str | Path, what: str) -> Path:
    path = Path(root)
    if not path.is_dir():
        raise DataError(f"{what} root not found: {path} (resolved: {path.resolve()})")
    return path


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: missing folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)


def _limited(items: list, limit: int | None) -> list:
    if limit is None:
        return items
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit: expected a positive integer or None, got {limit!r}")
    return items[:limit]


# --- GrabCut ----------------------------------------------------------------------------------


def paired_files(
    root: Path, image_dir: str, suffixes: tuple[str, ...], mask_dir: str, mask_suffix: str
) -> list[tuple[Path, Path]]:
    """(image, mask) paths sorted by name; every image needs ``mask_dir/STEM+mask_suffix``."""
    pairs = []
    for image_path in _files(root / image_dir, suffixes):
        mask_path = root / mask_dir / f"{image_path.stem}{mask_suffix}"
        if not mask_path.is_file():
            raise DataError(f"{image_path}: no mask (expected {mask_path})")
        pairs.append((image_path, mask_path))
    if not pairs:
        raise DataError(f"{root / image_dir}: no images")
    return pairs


def grabcut_files(root: str | Path = GRABCUT_ROOT) -> list[tuple[Path, Path]]:
    """(image, mask) paths sorted by name; each image needs ``boundary_GT/NAME.bmp``."""
    return paired_files(
        _root(root, "GrabCut"), "data_GT", GRABCUT_IMAGE_SUFFIXES, "boundary_GT", ".bmp"
    )


def decode_grabcut_mask(raw: np.ndarray, path: Path) -> np.ndarray:
    """0 -> background, 255 -> object, 128 (uncertain band) -> IGNORE."""
    if raw.ndim == 3:
        raw = raw[..., 0]
    unexpected = np.setdiff1d(np.unique(raw), [0, 128, 255])
    if unexpected.size:
        raise DataError(
            f"{path}: unexpected mask value {int(unexpected[0])} (expected 0, 128, 255)"
        )
    lut = np.zeros(256, dtype=np.uint8)
    lut[255], lut[128] = 1, IGNORE
    return lut[raw]


def _read_raw_mask(path: Path) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataError(f"{path}: unreadable or corrupt mask")
    return raw


def _checked(path: Path, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if mask.shape[:2] != image.shape[:2]:
        raise DataError(
            f"{path}: size {mask.shape[0]}x{mask.shape[1]} differs from its image "
            f"{image.shape[0]}x{image.shape[1]}"
        )
    return mask


def _grabcut_samples(pairs: list[tuple[Path, Path]]) -> Iterator[Sample]:
    for image_path, mask_path in pairs:
        image = read_image(image_path)
        mask = decode_grabcut_mask(_checked(mask_path, image, _read_raw_mask(mask_path)), mask_path)
        yield Sample(image_path.stem, image, mask)


def load_grabcut_samples(root: str | Path = GRABCUT_ROOT, limit: int | None = None) -> list[Sample]:
    """The 50 GrabCut images at native resolution (masks in {0, 1, IGNORE})."""
    return list(_grabcut_samples(_limited(grabcut_files(root), limit)))


def load_grabcut(
    root: str | Path = GRABCUT_ROOT,
    hw: tuple[int, int] | None = GRABCUT_HW,
    limit: int | None = None,
) -> SegmentationData:
    """GrabCut resized to ``hw`` (default ``GRABCUT_HW``); native sizes differ, so hw is needed."""
    if hw is None:
        raise ConfigError(
            "hw: GrabCut images differ in size, so hw=None (native) cannot stack them; pass "
            "hw=[H, W], or use load_grabcut_samples() for native resolution"
        )
    samples = _grabcut_samples(_limited(grabcut_files(root), limit))
    return stack_samples(samples, hw, list(BINARY_CLASSES), source=f"grabcut:{root}")


# --- DAVIS ------------------------------------------------------------------------------------


def davis_files(root: str | Path = DAVIS_ROOT) -> list[tuple[Path, Path]]:
    """(image, mask) paths sorted by name; each ``img/NNN.jpg`` needs ``gt/NNN.png``."""
    return paired_files(_root(root, "DAVIS"), "img", (".jpg", ".jpeg"), "gt", ".png")


def decode_davis_mask(raw: np.ndarray) -> np.ndarray:
    """Any non-zero channel -> object (1); all objects of a frame are merged."""
    nonzero = raw.any(axis=2) if raw.ndim == 3 else raw > 0
    return nonzero.astype(np.uint8)


def davis_video_ids(names: list[str]) -> np.ndarray | None:
    """Video index per frame name ("000".."344"), or None if this is not the known 345-frame set."""
    starts = np.array([start for start, _ in DAVIS_VIDEOS])
    try:
        frames = np.array([int(name) for name in names])
    except ValueError:
        return None
    if frames.size == 0 or frames.min() < 0 or frames.max() >= DAVIS_NUM_FRAMES:
        return None
    return np.searchsorted(starts, frames, side="right") - 1


def _davis_samples(pairs: list[tuple[Path, Path]]) -> Iterator[Sample]:
    for image_path, mask_path in pairs:
        image = read_image(image_path)
        mask = decode_davis_mask(_checked(mask_path, image, _read_raw_mask(mask_path)))
        yield Sample(image_path.stem, image, mask)


def load_davis_samples(root: str | Path = DAVIS_ROOT, limit: int | None = None) -> list[Sample]:
    """The 345 DAVIS frames at native resolution (masks in {0, 1})."""
    return list(_davis_samples(_limited(davis_files(root), limit)))


def load_davis(
    root: str | Path = DAVIS_ROOT, hw: tuple[int, int] | None = DAVIS_HW, limit: int | None = None
) -> SegmentationData:
    """DAVIS resized to ``hw`` (default ``DAVIS_HW``; None = native 480x854), video ids in meta."""
    pairs = davis_files(root)
    samples = _davis_samples(_limited(pairs, limit))
    data = stack_samples(samples, hw, list(BINARY_CLASSES), source=f"davis:{root}")
    # Video ids only for the known frame set: another DAVIS selection would get wrong groups.
    groups = davis_video_ids(data.names) if len(pairs) == DAVIS_NUM_FRAMES else None
    if groups is not None:
        data.meta["groups"] = groups
    return data
