"""Guidance encodings and frame geometry: pure functions on numpy arrays.

A *frame* is the window of the image the network sees, resized to its input size: the whole
image (clicks, RITM) or a crop around the user's points with a margin (DEXTR, IOG). Frames are
real-valued boxes ``(y0, x0, y1, x1)`` (end exclusive) that may reach outside the image; what
lies outside is zero-padded, as in DEXTR. Points are ``(y, x)`` pixel centres.

Guidance is three channels in frame coordinates: positive points, negative points, and the
previous mask. Clicks are disks of radius 5 (RITM) or distance maps (RITM's DistMaps without
disks: 1 - tanh(2 d / radius), a signal that reaches the whole object); the points of DEXTR and
IOG are Gaussian heat maps (sigma 10 at DEXTR's 512-pixel crop, scaled with the crop here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

Point = tuple[float, float]
STRIDE = 32  # smp encoders downsample 32x: network inputs are multiples of this
# each interaction's guidance encoding unless its weights name another ("encoding")
DEFAULT_ENCODINGS = {"click": "disk", "extreme_points": "gaussian", "inside_outside": "gaussian"}


class Frame(NamedTuple):
    """Image window ``box`` = (y0, x0, y1, x1) seen by the network at ``size`` = (h, w)."""

    box: tuple[float, float, float, float]
    size: tuple[int, int]


def whole_frame(shape: tuple[int, int], long_side: int) -> Frame:
    """The whole image, its long side scaled to about ``long_side``, both sides multiples of 32."""
    h, w = shape
    scale = long_side / max(h, w)
    size = tuple(max(STRIDE, int(round(n * scale / STRIDE)) * STRIDE) for n in (h, w))
    return Frame((0.0, 0.0, float(h), float(w)), size)


def crop_frame(
    points: Sequence[Point], size: int, margin_fraction: float, min_margin: float
) -> Frame:
    """The box of ``points`` grown on every side by ``margin_fraction`` of its longer side (at
    least ``min_margin`` pixels), seen at ``size`` x ``size`` (DEXTR's relaxed crop)."""
    if not points:
        raise ValueError("a crop needs at least one point")
    ys, xs = [float(p[0]) for p in points], [float(p[1]) for p in points]
    y0, x0, y1, x1 = min(ys), min(xs), max(ys) + 1.0, max(xs) + 1.0
    margin = max(min_margin, margin_fraction * max(y1 - y0, x1 - x0))
    return Frame((y0 - margin, x0 - margin, y1 + margin, x1 + margin), (size, size))


def zoom_frame(
    mask: np.ndarray,
    points: Sequence[Point],
    expansion: float,
    scale: tuple[float, float],
    size: int,
) -> Frame | None:
    """RITM's zoom-in: the box of ``mask`` and ``points`` (image pixels), each side grown
    ``expansion`` times about its centre, seen at ``size`` on its long side unless that scale
    (frame pixels per image pixel) leaves ``scale`` = (low, high): then at the nearest bound
    (a large box gives a larger frame; a small one is grown to ``size`` at ``high``, at most to
    the image). Frame sides are multiples of 32, the box grown on its short side to keep the
    aspect, and moved inside the image where it fits (a larger box is centred on it). None
    when ``mask`` and ``points`` are both empty."""
    h, w = mask.shape
    # the mask's rows and columns: cheaper than its pixels' coordinates
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    ys = np.concatenate([ys, [p[0] for p in points]])
    xs = np.concatenate([xs, [p[1] for p in points]])
    if not len(ys):
        return None
    y0, x0, y1, x1 = float(ys.min()), float(xs.min()), float(ys.max()) + 1.0, float(xs.max()) + 1.0
    side_y, side_x = (y1 - y0) * expansion, (x1 - x0) * expansion
    s = float(np.clip(size / max(side_y, side_x), *scale))
    # each side at least what ``size`` frame pixels show at the highest scale (RITM's minimum
    # crop), at most the image
    least = size / scale[1]
    side_y, side_x = min(h, max(side_y, least)), min(w, max(side_x, least))
    out = tuple(max(STRIDE, int(np.ceil(n * s / STRIDE - 1e-6)) * STRIDE) for n in (side_y, side_x))
    # the box at exactly the frame's aspect: grown (never cut) to the rounded-up frame size
    side_y, side_x = out[0] / s, out[1] / s
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    top, left = _inside(cy - side_y / 2.0, side_y, h), _inside(cx - side_x / 2.0, side_x, w)
    return Frame((top, left, top + side_y, left + side_x), (out[0], out[1]))


def _inside(start: float, side: float, extent: int) -> float:
    """``start`` moved so that [start, start + side) lies in [0, extent), or centred on it."""
    if side >= extent:
        return (extent - side) / 2.0
    return min(max(start, 0.0), extent - side)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (y0, x0, y1, x1) boxes."""
    dy = min(a[2], b[2]) - max(a[0], b[0])
    dx = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, dy) * max(0.0, dx)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def contains(frame: Frame, point: Point) -> bool:
    y0, x0, y1, x1 = frame.box
    return y0 <= point[0] < y1 and x0 <= point[1] < x1


def _affine(frame: Frame) -> np.ndarray:
    """2x3 matrix taking image (x, y) to frame (x, y), pixel centres to pixel centres."""
    y0, x0, y1, x1 = frame.box
    sy, sx = frame.size[0] / (y1 - y0), frame.size[1] / (x1 - x0)
    return np.array(
        [[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5]], dtype=np.float64
    )


def to_frame(points: Sequence[Point], frame: Frame) -> list[Point]:
    """Image coordinates -> frame (network input) coordinates."""
    m = _affine(frame)
    return [(m[1, 1] * y + m[1, 2], m[0, 0] * x + m[0, 2]) for y, x in points]


def warp_to_frame(array: np.ndarray, frame: Frame, nearest: bool = False) -> np.ndarray:
    """``array`` [H,W(,C)] resampled into the frame; zeros outside the image."""
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    h, w = frame.size
    return cv2.warpAffine(
        array, _affine(frame), (w, h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def warp_from_frame(array: np.ndarray, frame: Frame, shape: tuple[int, int]) -> np.ndarray:
    """A frame-sized float map resampled back onto the image grid ``shape`` (bilinear)."""
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(
        np.ascontiguousarray(array, np.float32),
        _affine(frame),
        (shape[1], shape[0]),
        flags=flags,
        borderMode=cv2.BORDER_REPLICATE,
    )


def frame_region(frame: Frame, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The image pixels whose centres lie inside the frame, as slices."""
    y0, x0, y1, x1 = frame.box
    ys = slice(max(0, int(np.ceil(y0 - 0.5))), min(shape[0], int(np.ceil(y1 - 0.5))))
    xs = slice(max(0, int(np.ceil(x0 - 0.5))), min(shape[1], int(np.ceil(x1 - 0.5))))
    return ys, xs


def _squared_distances(size: tuple[int, int], points: Sequence[Point]) -> np.ndarray:
    """[len(points), h, w] squared distance of every pixel centre to each point."""
    yy = np.arange(size[0], dtype=np.float32)[None, :, None]
    xx = np.arange(size[1], dtype=np.float32)[None, None, :]
    p = np.asarray(points, np.float32).reshape(-1, 2)
    return (yy - p[:, 0, None, None]) ** 2 + (xx - p[:, 1, None, None]) ** 2


def disk_map(size: tuple[int, int], points: Sequence[Point], radius: float) -> np.ndarray:
    """float32 [h,w]: 1 within ``radius`` of any point (RITM's click disks), else 0."""
    out = np.zeros(size, np.float32)
    for py, px in points:  # each disk in its own window: a click costs its disk, not the map
        y0, x0 = max(0, int(np.floor(py - radius))), max(0, int(np.floor(px - radius)))
        y1, x1 = (
            min(size[0], int(np.ceil(py + radius)) + 1),
            min(size[1], int(np.ceil(px + radius)) + 1),
        )
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(py)
        xx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(px)
        out[y0:y1, x0:x1][yy**2 + xx**2 <= radius**2] = 1.0
    return out


def gaussian_map(size: tuple[int, int], points: Sequence[Point], sigma: float) -> np.ndarray:
    """float32 [h,w]: the maximum over points of exp(-d^2 / 2 sigma^2) (DEXTR / IOG heat maps);
    1 at each point."""
    if not points:
        return np.zeros(size, np.float32)
    nearest = _squared_distances(size, points).min(axis=0)
    return np.exp(-nearest / (2.0 * sigma**2)).astype(np.float32)


def distance_map(size: tuple[int, int], points: Sequence[Point], radius: float) -> np.ndarray:
    """float32 [h,w]: 1 - tanh(2 d / radius), d the distance to the nearest point (RITM's
    DistMaps, turned so that 0 means no point); 1 at each point, 0.04 at ``radius``."""
    if not points:
        return np.zeros(size, np.float32)
    nearest = np.sqrt(_squared_distances(size, points).min(axis=0))
    return (1.0 - np.tanh(2.0 * nearest / radius)).astype(np.float32)


ENCODINGS = {"disk": disk_map, "gaussian": gaussian_map, "distance": distance_map}


def guidance_maps(
    size: tuple[int, int],
    positive: Sequence[Point],
    negative: Sequence[Point],
    previous: np.ndarray | None,
    style: str,
    radius: float,
    sigma: float,
) -> np.ndarray:
    """float32 [3,h,w]: positive map, negative map, previous mask (zeros when None).

    ``style`` "disk" draws disks of ``radius``, "distance" distance maps scaled by ``radius``,
    "gaussian" heat maps of ``sigma``.
    """
    if style not in ENCODINGS:
        raise ValueError(f"guidance style must be one of {sorted(ENCODINGS)}, got {style!r}")
    width = sigma if style == "gaussian" else radius
    pos, neg = (ENCODINGS[style](size, points, width) for points in (positive, negative))
    prev = np.zeros(size, np.float32) if previous is None else previous.astype(np.float32)
    if prev.shape != tuple(size):
        raise ValueError(f"previous mask {prev.shape} does not match the frame {tuple(size)}")
    return np.stack([pos, neg, prev])
