"""A procedural segmentation dataset: no download, deterministic from a seed, built in milliseconds.

Classes (id, name, what tells it apart; pixel shares measured over 2000 images at 128x128):

0. ``background`` (80 %): blotchy low-frequency colour noise and a fine grain on a random base.
1. ``disc`` (14 %): ellipses, 1-4 per image; smooth dome shading, a darker rim, reddish.
2. ``bar`` (5 %): rotated rectangles, 0-2 per image, striped across the long axis, bluish.
3. ``star`` (0.6 %): small 4-6 pointed stars with a dark outline, yellowish. THE RARE CLASS
   (``SYNTHETIC_RARE_CLASS``): present in 30 % of the images, well under 3 % of all pixels.

Colour alone does not separate the classes: the background base colour is uniform over most of
RGB, and every object draws its colour around its class mean with a wide spread, then each image
gets a colour cast, brightness shift, blur and sensor noise. Shape and texture must do the rest.
Objects overlap; they are drawn in random order, later ones on top. Measured: a colour lookup
table scores 0.27 mIoU; a randomly initialised Unet-resnet18 trained 6-8 epochs on 210 images
reaches about 0.6 mIoU (disc 0.85, bar 0.7) and finds stars only with a class-weighted loss
(IoU 0.1-0.2): the rare class is where strategies can make a difference.

Every image depends only on ``(seed, index)``, so ``make_synthetic(100)`` is a prefix of
``make_synthetic(200)`` with the same seed.
"""

from __future__ import annotations

import cv2
import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.data.base import RARE_KEY, ClassInfo, SegmentationData
from al_loop.data.folder import as_hw

SYNTHETIC_CLASSES = [
    ClassInfo("background", (40, 40, 40)),
    ClassInfo("disc", (230, 80, 60)),
    ClassInfo("bar", (60, 130, 230)),
    ClassInfo("star", (250, 210, 40)),
]
SYNTHETIC_RARE_CLASS = 3  # "star"

DISC, BAR, STAR = 1, 2, 3
CLASS_MEAN_RGB = {DISC: (190, 95, 80), BAR: (85, 125, 185), STAR: (215, 195, 90)}
OBJECT_COLOR_SPREAD = 40.0  # std of each channel around the class mean, per object
STAR_PROBABILITY = 0.3  # share of images with stars


def _object_color(rng: np.random.Generator, cls: int) -> np.ndarray:
    mean = np.asarray(CLASS_MEAN_RGB[cls], dtype=np.float32)
    return np.clip(mean + rng.normal(0.0, OBJECT_COLOR_SPREAD, 3), 0, 255).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, hw, cells: int, channels: int) -> np.ndarray:
    """Low-frequency noise: a coarse random grid upsampled bicubically; float32 [H, W, channels]."""
    h, w = hw
    coarse = rng.standard_normal((cells, cells, channels), dtype=np.float32)
    fine = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return fine.reshape(h, w, channels)


def _background(rng: np.random.Generator, hw) -> np.ndarray:
    """Random base colour, large colour blotches, and a fine luminance grain."""
    base = rng.uniform(30, 225, 3).astype(np.float32)
    blotches = 20.0 * _smooth_noise(rng, hw, int(rng.integers(3, 7)), 3)
    grain = cv2.GaussianBlur(rng.standard_normal(hw, dtype=np.float32), (0, 0), 1.5)
    return base + blotches + (40.0 * grain)[..., None]  # blur shrinks the std to about 0.2


def _local_frame(hw, center, extent: float, angle: float):
    """The box around ``center`` (x, y) reaching ``extent`` px, clipped to the image, and its
    pixel coordinates in a frame centred on ``center`` and turned by ``angle`` (radians).

    Drawing inside the box only keeps the cost per object proportional to its size."""
    x, y = center
    y0, y1 = max(int(y - extent), 0), min(int(np.ceil(y + extent)) + 1, hw[0])
    x0, x1 = max(int(x - extent), 0), min(int(np.ceil(x + extent)) + 1, hw[1])
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xs - np.float32(x), ys - np.float32(y)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return (slice(y0, y1), slice(x0, x1)), dx * c + dy * s, -dx * s + dy * c


def _disc(rng, hw, size):
    """Filled ellipse shaded as a smooth dome (bright centre), with a darker rim."""
    center = rng.uniform(0, 1, 2) * (hw[1], hw[0])
    axes = rng.uniform(0.08, 0.22, 2) * size
    box, u, v = _local_frame(hw, center, axes.max(), rng.uniform(0, np.pi))
    r2 = (u / np.float32(axes[0])) ** 2 + (v / np.float32(axes[1])) ** 2
    shade = 0.6 + 0.6 * np.clip(1.0 - r2, 0.0, 1.0)
    rim = r2 > (1.0 - 2.0 / axes.min()) ** 2  # about 2 px wide
    shade[rim] *= 0.6
    return box, r2 <= 1.0, shade[..., None] * _object_color(rng, DISC)


def _bar(rng, hw, size):
    """Rotated rectangle with stripes across its long axis (period 4-8 px at 128 px)."""
    center = rng.uniform(0.1, 0.9, 2) * (hw[1], hw[0])
    half_len, half_wid = rng.uniform(0.15, 0.4) * size, rng.uniform(0.04, 0.08) * size
    box, u, v = _local_frame(hw, center, np.hypot(half_len, half_wid), rng.uniform(0, np.pi))
    inside = (np.abs(u) <= half_len) & (np.abs(v) <= half_wid)
    period = np.float32(rng.uniform(4, 8) * size / 128)
    stripes = 1.0 + 0.3 * np.sign(np.sin(np.float32(2 * np.pi) * u / period))
    return box, inside, stripes[..., None] * _object_color(rng, BAR)


def _star(rng, hw, size):
    """Small flat star with 4-6 points and a dark outline; its shape tells it from a disc."""
    points = int(rng.integers(4, 7))
    outer = rng.uniform(0.06, 0.11) * size
    inner = outer * rng.uniform(0.35, 0.5)
    center = rng.uniform(0.05, 0.95, 2) * (hw[1], hw[0])
    angles = rng.uniform(0, 2 * np.pi) + np.arange(2 * points) * np.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    box, u, _ = _local_frame(hw, center, outer, 0.0)
    origin = np.array([box[1].start, box[0].start])
    polygon = center - origin + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    canvas = np.zeros(u.shape, dtype=np.uint8)
    vertices = [np.round(polygon * 16).astype(np.int32)]
    cv2.fillPoly(canvas, vertices, 1, cv2.LINE_8, shift=4)
    cv2.polylines(canvas, vertices, True, 2, 1, cv2.LINE_8, shift=4)  # dark outline
    shade = np.where(canvas == 2, np.float32(0.45), np.float32(1.0))
    return box, canvas > 0, shade[..., None] * _object_color(rng, STAR)


DRAW = {DISC: _disc, BAR: _bar, STAR: _star}


def _object_classes(rng: np.random.Generator) -> list[int]:
    discs = [DISC] * int(rng.integers(1, 5))
    bars = [BAR] * int(rng.choice(3, p=[0.3, 0.45, 0.25]))
    stars = [STAR] * int(rng.integers(1, 4)) if rng.random() < STAR_PROBABILITY else []
    order = discs + bars + stars
    return [order[i] for i in rng.permutation(len(order))]  # later objects occlude earlier ones


def _finish(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Camera effects: colour cast, brightness, blur, sensor noise."""
    image = image * rng.uniform(0.8, 1.2, 3).astype(np.float32) + np.float32(rng.uniform(-20, 20))
    image = cv2.GaussianBlur(image, (0, 0), sigmaX=float(rng.uniform(0.5, 1.2)))
    image += 6.0 * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(image, 0, 255).round().astype(np.uint8)


def synthetic_sample(seed: int, index: int, hw=(128, 128)) -> tuple[np.ndarray, np.ndarray]:
    """Image ``index`` of the dataset ``seed``: RGB uint8 [H, W, 3] and class ids uint8 [H, W]."""
    rng = np.random.default_rng([seed, index])
    size = float(min(hw))
    image = _background(rng, hw)
    mask = np.zeros(hw, dtype=np.uint8)
    for cls in _object_classes(rng):
        box, inside, colors = DRAW[cls](rng, hw, size)
        np.copyto(image[box], colors, where=inside[..., None])
        mask[box][inside] = cls
    return _finish(rng, image), mask


def make_synthetic(num_images: int, hw=(128, 128), seed: int = 0) -> SegmentationData:
    """``num_images`` procedural images with full masks (classes in ``SYNTHETIC_CLASSES``)."""
    if (
        isinstance(num_images, bool)
        or not isinstance(num_images, (int, np.integer))
        or num_images < 1
    ):
        raise ConfigError(f"num_images: expected a positive integer, got {num_images!r}")
    hw = as_hw(hw)
    if hw is None or min(hw) < 16:
        raise ConfigError(f"hw: synthetic images need at least 16x16 pixels, got {hw}")
    images = np.empty((num_images, *hw, 3), dtype=np.uint8)
    masks = np.empty((num_images, *hw), dtype=np.uint8)
    for i in range(num_images):
        images[i], masks[i] = synthetic_sample(seed, i, hw)
    names = [f"synth_{i:05d}" for i in range(num_images)]
    return SegmentationData(
        names,
        images,
        masks,
        list(SYNTHETIC_CLASSES),
        f"synthetic(seed={seed})",
        {"seed": seed, RARE_KEY: (SYNTHETIC_CLASSES[SYNTHETIC_RARE_CLASS].name,)},
    )
