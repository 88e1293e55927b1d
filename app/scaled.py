"""Interactive methods on a working copy of the unit's crop, at most WORK_SIDE px on its long
side, so a click is answered at the speed of a hand: the interactions (crop pixels, as the
draft and the store keep them) are scaled into the working copy, the method's mask is scaled
back to the crop. The working copy is made once per crop (a small LRU keyed by the crop's
bytes), and methods that precompute per image cache it themselves (the watershed's gradient).

Per-interaction times and the NoC on the working copy against full size: the README's
benchmark table (benchmarks/app_latency.py, benchmarks/app_scaled_quality.py).
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

import cv2
import numpy as np

from al_loop.core.interactions import from_json
from al_loop.interactive import make_method

WORK_SIDE = 400
# GrabCut's cost grows much faster than the pixel count: its family works on a smaller copy to
# answer in a fraction of a second. CPU seconds per interaction on DAVIS's first frame, median
# of the benchmark's script (long side 320 / 256 / 224 px): grabcut_clicks 0.30 / 0.14 / 0.09,
# scribbles (a watershed, then GrabCut; registry defaults) 0.67 / 0.53 / 0.19. The app's warm,
# windowed scribbles (APP_PARAMS) answer later strokes in about 0.02 s even at 320 px, but their
# first stroke still fits GrabCut on the whole copy: with the image's gradient 0.8 CPU s at
# 320 px (three rounds; 2.3 s in Chromium under load), 0.26 at 224 (two rounds). NoC@90 14.48
# at 320, 14.80 at 224.
WORK_SIDES = {
    "grabcut_clicks": 256,
    "grabcut_box": 256,
    "extreme_points_grabcut": 256,
    "iog_grabcut": 256,
    "scribbles": 224,
}
# Methods that gain nothing from a smaller copy: a polygon is filled exactly at full size, and
# learned methods cut and resize their own frame around the object.
FULL_SIZE = frozenset({"polygon", "oracle_polygon", "ritm_clicks", "dextr", "iog"})
# What the app changes in a method's parameters to answer at once: scribbles start each stroke
# after the first from the previous stroke's colour models and recompute only a window around
# the stroke (al_loop.interactive.seeded.ScribbleGrabCut); the first stroke fits them in two
# rounds, not three. NoC@90 on the working copy, 25 DAVIS frames: 14.80 (the same with three
# first rounds; 14.84 with one), recomputing everything 14.76; CPU per later stroke 0.01 s
# instead of 0.17 (README; benchmarks/app_scaled_quality.py --library, app_latency.py
# --library-params).
APP_PARAMS: dict[str, dict] = {
    "scribbles": {"iterations": 2, "warm_iterations": 1, "local_margin": 0.15}
}
# benchmarks/app_latency.py --library-params sets it to measure the registry's defaults instead
LIBRARY_PARAMS_ENV = "AL_LOOP_LIBRARY_PARAMS"
_WORKING: OrderedDict[tuple, np.ndarray] = OrderedDict()
_WORKING_SIZE = 8
_LOCK = threading.Lock()


def app_params(method_name: str) -> dict:
    """The parameters the app builds ``method_name`` with (APP_PARAMS; none when the
    LIBRARY_PARAMS_ENV variable is "1")."""
    if os.environ.get(LIBRARY_PARAMS_ENV) == "1":
        return {}
    return dict(APP_PARAMS.get(method_name, {}))


def app_method(method_name: str):
    """The registered method ``method_name`` as the app runs it (``app_params``)."""
    return make_method(method_name, **app_params(method_name))


def work_side(method_name: str) -> int:
    """The long side of ``method_name``'s working copy (a huge value: the crop as it is)."""
    if method_name in FULL_SIZE:
        return 1 << 30
    return WORK_SIDES.get(method_name, WORK_SIDE)


def work_shape(hw: tuple[int, int], side: int = WORK_SIDE) -> tuple[int, int]:
    """(h, w) of the working copy: ``hw`` shrunk to at most ``side`` on its long side."""
    h, w = hw
    factor = min(1.0, side / max(h, w))
    return max(1, round(h * factor)), max(1, round(w * factor))


def crop_key(crop: np.ndarray) -> tuple:
    return crop.shape, hashlib.blake2b(np.ascontiguousarray(crop).data, digest_size=16).digest()


def working_image(crop: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``crop`` resized to ``hw`` (area averaging), made once per crop and size."""
    if hw == crop.shape[:2]:
        return crop
    key = (*crop_key(crop), hw)
    with _LOCK:  # the app's sessions run in threads
        found = _WORKING.get(key)
    if found is None:
        found = cv2.resize(crop, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        found.setflags(write=False)  # shared by sessions; a snapshot need not copy it
    with _LOCK:
        _WORKING[key] = found
        _WORKING.move_to_end(key)
        if len(_WORKING) > _WORKING_SIZE:
            _WORKING.popitem(last=False)
    return found


def _point_scaler(src: tuple[int, int], dst: tuple[int, int]) -> Callable:
    sy, sx = dst[0] / src[0], dst[1] / src[1]

    def point(p) -> list[int]:
        # pixel centres map onto pixel centres; clipped so the edge pixel stays inside
        y = min(dst[0] - 1, max(0, int((p[0] + 0.5) * sy)))
        x = min(dst[1] - 1, max(0, int((p[1] + 0.5) * sx)))
        return [y, x]

    return point


def scale_interaction(data: dict, src: tuple[int, int], dst: tuple[int, int]) -> dict:
    """An interaction (to_json form) in pixels of an ``src``-sized image, in ``dst`` pixels."""
    point = _point_scaler(src, dst)
    kind, out = data["type"], dict(data)
    if kind == "Click":
        out["y"], out["x"] = point((data["y"], data["x"]))
    elif kind == "Box":  # end-exclusive: scale the last pixel inside, not the end
        out["y0"], out["x0"] = point((data["y0"], data["x0"]))
        y1, x1 = point((data["y1"] - 1, data["x1"] - 1))
        out["y1"], out["x1"] = y1 + 1, x1 + 1
    elif kind == "ExtremePoints":
        out["points"] = [point(p) for p in data["points"]]
    elif kind == "InsideOutside":
        out["corners"] = [point(p) for p in data["corners"]]
        out["inside"] = point(data["inside"])
    elif kind == "Polygon":
        out["vertices"] = [point(p) for p in data["vertices"]]
    elif kind == "Scribble":
        out["points"] = [point(p) for p in data["points"]]
    return out


def upscale_mask(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A bool mask resized to ``hw``; bilinear then halfway, so edges come back smooth."""
    if mask.shape == tuple(hw):
        return mask
    soft = cv2.resize(mask.astype(np.uint8) * 255, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)
    return soft >= 128


class ScaledSession:
    """A method's session on the working copy; ``add`` takes and returns crop-sized data."""

    def __init__(self, method, crop: np.ndarray, initial: np.ndarray | None, side: int | None):
        self.hw = crop.shape[:2]
        side = work_side(getattr(method, "name", "")) if side is None else side
        self.work_hw = work_shape(self.hw, side)
        image = working_image(crop, self.work_hw)
        if initial is not None and self.work_hw != self.hw:
            small = cv2.resize(
                initial.astype(np.uint8) * 255,
                (self.work_hw[1], self.work_hw[0]),
                interpolation=cv2.INTER_AREA,
            )
            initial_work = small >= 128
        else:
            initial_work = initial
        self._session = method.start(image, initial_work)
        self._initial = initial

    def snapshot(self) -> ScaledSession:
        clone = copy.copy(self)
        clone._session = snapshot(self._session)
        return clone

    def add(self, data: dict) -> np.ndarray:
        """``data``: an interaction in to_json form, crop pixels; the crop-sized mask."""
        scaled = data if self.work_hw == self.hw else scale_interaction(data, self.hw, self.work_hw)
        return upscale_mask(np.asarray(self._session.add(from_json(scaled)), bool), self.hw)


def snapshot(session):
    """A copy of a session that later ``add`` calls on either leave the other alone: its
    writable arrays and lists copied, nested sessions snapshot, the rest (read-only images,
    gradients, networks) shared. Undo returns to one instead of replaying every interaction."""
    clone = copy.copy(session)
    for name, value in vars(session).items():
        if isinstance(value, np.ndarray) and value.flags.writeable:
            setattr(clone, name, value.copy())
        elif isinstance(value, list):
            setattr(clone, name, list(value))
        elif hasattr(value, "add") and hasattr(value, "mask"):  # a session inside a session
            setattr(clone, name, snapshot(value))
    return clone


def start(method, crop: np.ndarray, initial: np.ndarray | None, side: int | None = None):
    """A session of ``method`` on ``crop``'s working copy (``side``: its long side, by default
    the method's own, ``work_side``)."""
    return ScaledSession(method, crop, initial, side)


def warm(method, crop: np.ndarray, side: int | None = None) -> threading.Thread:
    """Start ``method`` on ``crop`` in a background thread, so what it computes per image (the
    working copy, the watershed's gradient) is cached before the person's first click."""
    thread = threading.Thread(target=start, args=(method, crop, None, side), daemon=True)
    thread.start()
    return thread
