"""Dataset folders: images with optional class-id masks, read into one ``SegmentationData``.

Layout::

    ROOT/
      images/NAME.png|jpg|jpeg|bmp|tif|tiff   RGB or grayscale (8 or 16 bit); any case of suffix
      masks/NAME.png                          optional; one single-channel class id per pixel,
                                              255 = unlabelled / ignore
      classes.yaml                            optional; names and colours of the classes

``classes.yaml`` takes either form; the class id is the position in the list, or the key of the
mapping (which must then be 0..K-1). ``color`` is optional (a fixed palette fills it in)::

    - {name: background, color: [0, 0, 0]}     # id 0
    - {name: cat, color: [255, 0, 0]}          # id 1

    0: background                              # mapping form; a value is a name ...
    1: {name: cat, color: [255, 0, 0]}         # ... or {name, color}

Without ``classes.yaml`` the classes are ``class0 .. classK`` with K the largest id found in the
masks; a folder without masks then has no way to know its classes and is refused.

Rules (each violation is a one-line ``DataError`` naming the file):

- Images without a mask form a pool for a human. If no image has a mask, ``masks`` is None; if
  only some have, the others get all-``IGNORE`` masks and ``meta["has_mask"]`` (bool [N]) says
  which are real. ``meta["has_mask"]`` is present whenever ``masks`` is.
- A mask without an image, a mask of a different size than its image, and an id >= the number
  of classes (other than 255) are errors. 8-bit palette PNGs (VOC style) are read as indices; a
  3-channel mask is accepted only if its channels are identical (grey saved as RGB).
- ``hw=(H, W)`` resizes everything to the working resolution (INTER_AREA for images,
  INTER_NEAREST for masks so ids stay ids). ``hw=None`` keeps native size, which all images
  must then share. ``meta["native_hw"]`` (int [N, 2]) keeps the original sizes for export.
- EXIF orientation is ignored: masks refer to the stored pixel grid, as annotation tools see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import yaml
from PIL import Image

from al_loop.core.errors import ConfigError, DataError
from al_loop.data.base import IGNORE, ClassInfo, SegmentationData

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_SUFFIX = ".png"  # lossless only: JPEG artefacts would invent class ids


class Sample(NamedTuple):
    """One image at native resolution: RGB uint8 [H, W, 3] and class ids uint8 [H, W] or None."""

    name: str
    image: np.ndarray
    mask: np.ndarray | None


# --- reading single files ---------------------------------------------------------------------


def read_image(path: Path) -> np.ndarray:
    """RGB uint8 [H, W, 3] from any image cv2 decodes; grayscale and alpha are normalised."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)  # imdecode also copes with non-ASCII paths
    except OSError as err:
        raise DataError(f"{path}: cannot read image ({err.strerror})") from err
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if image is None:
        raise DataError(f"{path}: unreadable or corrupt image")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DataError(f"{path}: unsupported image type {image.dtype}; use 8 or 16 bit")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    conversions = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}
    if image.shape[2] not in conversions:
        raise DataError(f"{path}: unsupported image with {image.shape[2]} channels")
    return cv2.cvtColor(image, conversions[image.shape[2]])


def read_mask(path: Path) -> np.ndarray:
    """Class ids uint8 [H, W]. PIL, not cv2: cv2 expands palette PNGs to colours, losing ids."""
    try:
        with Image.open(path) as pil:
            mode = pil.mode
            mask = np.array(pil)
    except (OSError, ValueError) as err:  # PIL raises OSError subclasses for corrupt files
        raise DataError(f"{path}: unreadable or corrupt mask") from err
    if mask.ndim == 3:
        colour = mask[..., :3] if mask.shape[2] >= 3 else mask[..., :1]  # drop alpha
        if any(
            not np.array_equal(colour[..., 0], colour[..., c]) for c in range(1, colour.shape[2])
        ):
            raise DataError(
                f"{path}: mask has {colour.shape[2]} colour channels ({mode}); masks must be "
                "single-channel class ids (255 = ignore)"
            )
        mask = colour[..., 0]
    if mask.dtype == bool:  # mode "1"
        return mask.astype(np.uint8)
    if mask.dtype.kind == "f":
        raise DataError(f"{path}: mask ({mode}) holds floats; masks must be integer class ids")
    if mask.dtype != np.uint8:
        if mask.min() < 0 or mask.max() > 255:
            raise DataError(f"{path}: mask ({mode}) has ids outside 0..255")
        mask = mask.astype(np.uint8)
    return mask


def unknown_ids(mask: np.ndarray, num_classes: int) -> list[int]:
    ids = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    return [int(i) for i in ids if i >= num_classes and i != IGNORE]


# --- classes ----------------------------------------------------------------------------------


def palette_color(class_id: int) -> tuple[int, int, int]:
    """The PASCAL VOC colour map: distinct, fixed colours for any id."""
    r = g = b = 0
    c = class_id
    for shift in range(7, -1, -1):
        r |= ((c >> 0) & 1) << shift
        g |= ((c >> 1) & 1) << shift
        b |= ((c >> 2) & 1) << shift
        c >>= 3
    return (r, g, b)


def default_classes(num_classes: int) -> list[ClassInfo]:
    return [ClassInfo(f"class{i}", palette_color(i)) for i in range(num_classes)]


def _class_entry(path: Path, class_id: int, entry) -> ClassInfo:
    if isinstance(entry, str):
        return ClassInfo(entry, palette_color(class_id))
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise DataError(f"{path}: class {class_id} needs a name (a string or {{name, color}})")
    unknown = set(entry) - {"name", "color"}
    if unknown:
        raise DataError(
            f"{path}: class {class_id}: unknown key '{sorted(unknown)[0]}'; valid: name, color"
        )
    color = entry.get("color", palette_color(class_id))
    if (
        not isinstance(color, (list, tuple))
        or len(color) != 3
        or not all(isinstance(v, int) and 0 <= v <= 255 for v in color)
    ):
        raise DataError(f"{path}: class {class_id}: color must be [r, g, b] in 0..255, got {color}")
    return ClassInfo(entry["name"], (int(color[0]), int(color[1]), int(color[2])))


def read_classes(path: Path) -> list[ClassInfo]:
    """Classes from ``classes.yaml`` (list or id mapping, see the module docstring)."""
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise DataError(f"{path}: cannot parse ({str(err).splitlines()[0]})") from err
    if isinstance(spec, dict):
        ids = sorted(spec) if all(isinstance(k, int) for k in spec) else None
        if ids != list(range(len(spec))):
            raise DataError(f"{path}: mapping keys must be the class ids 0..{len(spec) - 1}")
        spec = [spec[i] for i in ids]
    if not isinstance(spec, list) or not spec:
        raise DataError(f"{path}: expected a non-empty list of classes or an id -> class mapping")
    if len(spec) > IGNORE:
        raise DataError(f"{path}: at most {IGNORE} classes (255 is the ignore id)")
    classes = [_class_entry(path, i, entry) for i, entry in enumerate(spec)]
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise DataError(f"{path}: duplicate class names")
    return classes


def write_classes(classes: list[ClassInfo], path: Path) -> None:
    spec = [{"name": c.name, "color": list(c.color)} for c in classes]
    path.write_text(
        yaml.safe_dump(spec, sort_keys=False, default_flow_style=None), encoding="utf-8"
    )


# --- assembling samples into arrays ------------------------------------------------------------


def as_hw(hw) -> tuple[int, int] | None:
    """``(H, W)`` as a tuple of two positive ints (YAML gives lists), or None for native size."""
    if hw is None:
        return None
    if (
        not isinstance(hw, (list, tuple))
        or len(hw) != 2
        or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in hw
        )
    ):
        raise ConfigError(f"hw: expected [H, W] as two positive integers, got {hw!r}")
    return int(hw[0]), int(hw[1])


def resize_sample(image: np.ndarray, mask: np.ndarray | None, hw: tuple[int, int]):
    """Image by area averaging; mask by nearest neighbour so every pixel keeps a real id."""
    h, w = hw
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return image, mask


def stack_samples(
    samples: Iterable[Sample],
    hw: tuple[int, int] | None,
    classes: list[ClassInfo],
    source: str,
    describe=lambda name: name,
) -> SegmentationData:
    """One array per split from samples of any size. ``describe(name)`` names a sample's file."""
    hw = as_hw(hw)
    names, images, masks, has_mask, native = [], [], [], [], []
    for sample in samples:
        native.append(sample.image.shape[:2])
        if hw is None and native[-1] != native[0]:
            raise DataError(
                f"{describe(sample.name)}: size {native[-1][0]}x{native[-1][1]} differs from "
                f"{native[0][0]}x{native[0][1]} of {describe(names[0])}; pass hw=(H, W) to resize"
            )
        image, mask = resize_sample(sample.image, sample.mask, hw or native[0])
        names.append(sample.name)
        images.append(image)
        masks.append(mask)
        has_mask.append(mask is not None)
    if not names:
        raise DataError(f"{source}: no images")
    h, w = images[0].shape[:2]
    meta = {"native_hw": np.asarray(native, dtype=np.int64)}
    stacked_masks = None
    if any(has_mask):
        blank = np.full((h, w), IGNORE, dtype=np.uint8)
        stacked_masks = np.stack([blank if m is None else m for m in masks])
        meta["has_mask"] = np.asarray(has_mask, dtype=bool)
    return SegmentationData(names, np.stack(images), stacked_masks, classes, source, meta)


# --- the folder format ------------------------------------------------------------------------


def _list_images(images_dir: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(images_dir.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue  # README, .DS_Store and the like
        if path.stem in found:
            raise DataError(f"{path}: same name as {found[path.stem]}; image names must be unique")
        found[path.stem] = path
    return found


def _list_masks(masks_dir: Path, image_names: Iterable[str]) -> dict[str, Path]:
    if not masks_dir.is_dir():
        return {}
    known = set(image_names)
    found: dict[str, Path] = {}
    for path in sorted(masks_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() != MASK_SUFFIX:
            raise DataError(f"{path}: masks must be PNG files (lossless class ids)")
        if path.stem not in known:
            raise DataError(f"{path}: mask without an image (no images/{path.stem}.*)")
        found[path.stem] = path
    return found


def _folder_classes(root: Path, mask_paths: dict[str, Path]) -> list[ClassInfo]:
    """From classes.yaml, else ``class0 .. classK`` with K the largest id found in any mask."""
    path = root / "classes.yaml"
    if path.is_file():
        return read_classes(path)
    if not mask_paths:
        raise DataError(f"{path}: missing; a folder without masks needs it to name its classes")
    largest, any_ignore = 0, False
    for mask_path in mask_paths.values():
        ids = np.flatnonzero(np.bincount(read_mask(mask_path).ravel(), minlength=256))
        any_ignore |= bool((ids == IGNORE).any())
        ids = ids[ids != IGNORE]
        largest = max(largest, int(ids.max()) if ids.size else 0)
    if largest == 0 and any_ignore:
        # The common binary export (object = 255) reads here as "background + ignore": refuse
        # rather than silently label nothing.
        raise DataError(
            f"{root / 'masks'}: masks hold only 0 and 255, and 255 means ignore in this format, so "
            "no pixel would be labelled; write the object as 1 (e.g. mask // 255), or add "
            "classes.yaml if 255 really marks unlabelled pixels"
        )
    return default_classes(largest + 1)


def _folder_samples(image_paths, mask_paths, num_classes: int, require_masks: bool):
    for name, image_path in image_paths.items():
        image = read_image(image_path)
        mask_path = mask_paths.get(name)
        if mask_path is None:
            if require_masks:
                raise DataError(f"{image_path}: no mask (expected masks/{name}.png)")
            yield Sample(name, image, None)
            continue
        mask = read_mask(mask_path)
        if mask.shape != image.shape[:2]:
            raise DataError(
                f"{mask_path}: size {mask.shape[0]}x{mask.shape[1]} differs from its image "
                f"{image.shape[0]}x{image.shape[1]}"
            )
        bad = unknown_ids(mask, num_classes)
        if bad:
            raise DataError(
                f"{mask_path}: unknown class id {bad[0]} ({num_classes} classes: "
                f"0..{num_classes - 1}, 255 = ignore)"
            )
        yield Sample(name, image, mask)


def load_folder(
    root: str | Path, hw: tuple[int, int] | None = None, require_masks: bool = False
) -> SegmentationData:
    """Read a dataset folder (format in the module docstring); images sorted by name."""
    root = Path(root)
    image_paths, classes, samples = _open_folder(root, require_masks)
    data = stack_samples(
        samples, hw, classes, source=str(root), describe=lambda name: str(image_paths[name])
    )
    data.meta["root"] = str(root)
    return data


def load_folder_samples(
    root: str | Path, require_masks: bool = False, limit: int | None = None
) -> tuple[list[Sample], list[ClassInfo]]:
    """The first ``limit`` samples of a dataset folder, each at its own native size (what the
    NoC protocol scores), with the folder's classes; the same checks as ``load_folder``."""
    _, classes, samples = _open_folder(Path(root), require_masks)
    return list(islice(samples, limit)), classes


def _open_folder(root: Path, require_masks: bool):
    """Image paths, classes and a lazy iterator of checked native-size samples."""
    images_dir = root / "images"
    if not images_dir.is_dir():
        raise DataError(f"{images_dir}: missing images folder (expected ROOT/images/NAME.png|jpg)")
    image_paths = _list_images(images_dir)
    if not image_paths:
        raise DataError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    mask_paths = _list_masks(root / "masks", image_paths)
    classes = _folder_classes(root, mask_paths)
    return (
        image_paths,
        classes,
        _folder_samples(image_paths, mask_paths, len(classes), require_masks),
    )


def _write_png(array: np.ndarray, path: Path) -> None:
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise DataError(f"{path}: cannot encode PNG")
    encoded.tofile(path)


def write_folder(data: SegmentationData, root: str | Path) -> Path:
    """Write ``data`` in the folder format (PNG images at working resolution, masks, classes.yaml).

    Refuses a folder that already holds images or masks: stale files would silently join the
    dataset when it is read back. Masks are written only for images that have one.
    """
    root = Path(root)
    images_dir, masks_dir = root / "images", root / "masks"
    for folder in (images_dir, masks_dir):
        if folder.is_dir() and any(folder.iterdir()):
            raise DataError(f"{folder}: not empty; write into a new folder")
    for name in data.names:
        if not name or Path(name).name != name or name.startswith("."):
            raise DataError(f"{data.source}: name '{name}' cannot be a file name")
    images_dir.mkdir(parents=True, exist_ok=True)
    has_mask = data.meta.get("has_mask", np.ones(len(data), dtype=bool))
    if data.masks is not None:
        masks_dir.mkdir(exist_ok=True)
    for i, name in enumerate(data.names):
        _write_png(cv2.cvtColor(data.images[i], cv2.COLOR_RGB2BGR), images_dir / f"{name}.png")
        if data.masks is not None and has_mask[i]:
            _write_png(data.masks[i], masks_dir / f"{name}.png")
    write_classes(data.classes, root / "classes.yaml")
    return root
