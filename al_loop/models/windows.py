"""Training windows around labelled pixels: fit where the labels are, not on whole images.

With grid cells or superpixels most pixels of a labelled image carry no label (IGNORE), yet a
whole-image fit runs the network over all of them. A window fit trains on fixed-size crops
instead, each placed on a labelled pixel with ``context`` pixels of image around it, so the
network still sees what surrounds a unit.

One *epoch* is a random cover: windows are drawn until every labelled pixel lies in at least one
of them (each next window sits on a labelled pixel no window covers yet). So an epoch shows
every labelled unit and every labelled class at least once, as a whole-image epoch does, and
costs about the labelled area plus its context instead of the whole image. An image whose cover
would hold more pixels than the image (labels all over it) is trained whole in that epoch
(``plan_epoch``), so a window epoch never costs more than a whole-image epoch; the
full-supervision reference, labelled everywhere, trains on whole images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.data.base import IGNORE

STRIDE = 32  # the encoders' output stride: window sides are multiples of it


@dataclass(frozen=True)
class WindowSpec:
    """``size``: window side (a multiple of 32; an image smaller than that is taken whole along
    that axis). ``context``: pixels of image at least between a window's centre pixel and its
    border (None: size // 4); the centre pixel lands anywhere in the window's middle, so the
    network does not learn that labels sit at the centre."""

    size: int = 128
    context: int | None = None

    def __post_init__(self) -> None:
        if self.size < STRIDE or self.size % STRIDE:
            raise ConfigError(
                f"segmenter.windows.size must be a positive multiple of {STRIDE}, got {self.size}"
            )
        if self.context is not None and not 0 <= self.context <= (self.size - 1) // 2:
            raise ConfigError(
                f"segmenter.windows.context must be in [0, {(self.size - 1) // 2}] for size "
                f"{self.size}, got {self.context}"
            )

    @property
    def margin(self) -> int:
        return self.size // 4 if self.context is None else self.context

    def shape(self, hw: tuple[int, int]) -> tuple[int, int]:
        """(height, width) of every window on images of size ``hw``."""
        return min(self.size, hw[0]), min(self.size, hw[1])

    def to_dict(self) -> dict[str, int | None]:
        return {"size": self.size, "context": self.context}


def make_window_spec(windows: WindowSpec | dict | None) -> WindowSpec | None:
    if windows is None or isinstance(windows, WindowSpec):
        return windows
    unknown = sorted(set(windows) - {"size", "context"})
    if unknown:
        raise ConfigError(f"segmenter.windows: unknown keys {unknown}; valid: ['context', 'size']")
    return WindowSpec(**windows)


def _start(centre: int, extent: int, length: int, margin: int, rng: np.random.Generator) -> int:
    """Window start along one axis: the centre at least ``margin`` from both window ends,
    the window inside the image."""
    margin = min(margin, (extent - 1) // 2)
    low = max(0, centre - (extent - 1 - margin))
    high = min(length - extent, centre - margin)
    if high < low:  # near the image border: the window flush with it
        return int(np.clip(centre - extent // 2, 0, length - extent))
    return int(rng.integers(low, high + 1))


def cover_windows(labels: np.ndarray, spec: WindowSpec, rng: np.random.Generator) -> np.ndarray:
    """int64 [K,3] (image, top, left) windows covering every labelled pixel of ``labels``
    [N,H,W] at least once, in image order (the caller shuffles). Deterministic for ``rng``."""
    n, h, w = labels.shape
    wh, ww = spec.shape((h, w))
    windows = []
    for i in range(n):
        uncovered = labels[i] != IGNORE
        while True:
            flat = np.flatnonzero(uncovered)
            if flat.size == 0:
                break
            y, x = divmod(int(flat[rng.integers(flat.size)]), w)
            top = _start(y, wh, h, spec.margin, rng)
            left = _start(x, ww, w, spec.margin, rng)
            uncovered[top : top + wh, left : left + ww] = False
            windows.append((i, top, left))
    return np.asarray(windows, dtype=np.int64).reshape(-1, 3)


def plan_epoch(
    labels: np.ndarray, spec: WindowSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch over ``labels`` [N,H,W]: (windows int64 [K,3] as (image, top, left), whole
    images int64 [M]). An image whose cover would hold at least as many pixels as the image
    itself (labels spread all over it, or an image no larger than a window) is trained whole
    instead, so a window epoch never costs more than a whole-image one."""
    h, w = labels.shape[1:]
    wh, ww = spec.shape((h, w))
    windows = cover_windows(labels, spec, rng)
    per_image = np.bincount(windows[:, 0], minlength=len(labels))
    whole = per_image * wh * ww >= h * w
    return windows[~whole[windows[:, 0]]], np.flatnonzero(whole & (per_image > 0))


def crop_windows(
    images: np.ndarray, labels: np.ndarray, windows: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The windows' pixels: uint8 [K,h,w,3] images and [K,h,w] labels (contiguous copies)."""
    wh, ww = shape
    x = np.stack([images[i, t : t + wh, s : s + ww] for i, t, s in windows])
    y = np.stack([labels[i, t : t + wh, s : s + ww] for i, t, s in windows])
    return x, y
