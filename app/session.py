"""The Annotate page's state without Streamlit: a draft (plain JSON) and the masks it implies.

A draft is everything a person did on the current unit, saved after every action so a refresh
or a restart replays it::

    {"method": "watershed_clicks", "class_id": 1, "positive": true,
     "tool": "click",           # the gesture chosen for corrections after an opening
     "from_model": false,       # the current object starts from the model's mask of its class
     "objects": [{"class_id": 1, "method": "...", "from_model": false,
                  "interactions": [...]}],          # finished objects
     "current": [...],          # interactions (al_loop.core.interactions.to_json) of the object
     "pending": [[y, x], ...],  # points of a gesture not yet complete (a box's first corner,
                                # an open polygon or stroke)
     "pending_t": [t, ...],     # when each pending point was made
     "gesture_t0": t,           # the action before the pending gesture's first point
     "events": [t0, t1, ...],   # wall-clock time of every action: the measured seconds
     "seq": n,                  # the last canvas event applied (app.canvas)
     "waits": [[seq, start, seconds, source], ...]}  # the app's waits, apart from them

Every interaction in ``current`` (and so in the store's log) carries its timing: ``t0`` the
time of the person's previous action, ``t`` the time of each of its points, ``t1`` when it was
complete; ``al-loop costs`` measures seconds per interaction kind from them.

Which points make which interaction is data: ``APP_METHODS`` (one row per method the app
offers) names each method's opening gesture and the gestures that correct it, and ``GESTURES``
turns a gesture's points into an interaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from al_loop.core.errors import AlLoopError
from al_loop.core.interactions import (
    Box,
    Click,
    ExtremePoints,
    InsideOutside,
    Polygon,
    Scribble,
    to_json,
)
from app import scaled
from app.project import merge_intervals

Point = tuple[int, int]


@dataclass(frozen=True)
class Gesture:
    """Points on the image -> one interaction. ``points``: how many complete it (None: the
    person ends it, with at least ``min_points``)."""

    label: str
    points: int | None
    build: Callable[[list[Point], bool], object]
    min_points: int = 1


def box_from_corners(corners: list[Point]) -> Box:
    """Two opposite corners, in any order, as an end-exclusive Box."""
    (ya, xa), (yb, xb) = corners
    return Box(min(ya, yb), min(xa, xb), max(ya, yb) + 1, max(xa, xb) + 1)


def order_extreme_points(points: list[Point]) -> tuple[Point, ...]:
    """Four clicks in any order -> (top, bottom, left, right), as ExtremePoints documents."""
    rest = list(points)
    top = min(rest, key=lambda p: (p[0], p[1]))
    rest.remove(top)
    bottom = max(rest, key=lambda p: (p[0], -p[1]))
    rest.remove(bottom)
    left, right = sorted(rest, key=lambda p: (p[1], p[0]))
    return top, bottom, left, right


GESTURES: dict[str, Gesture] = {
    "click": Gesture("click", 1, lambda p, positive: Click(*p[0], positive)),
    "box": Gesture("box: two corners", 2, lambda p, _: box_from_corners(p)),
    "extreme_points": Gesture(
        "extreme points: top, bottom, left, right (any order)",
        4,
        lambda p, _: ExtremePoints(order_extreme_points(p)),
    ),
    "inside_outside": Gesture(
        "IOG: two box corners, then a click inside",
        3,
        lambda p, _: InsideOutside((p[0], p[1]), p[2]),
    ),
    "polygon": Gesture("polygon vertices", None, lambda p, _: Polygon(tuple(p)), min_points=3),
    "stroke": Gesture(
        "stroke", None, lambda p, positive: Scribble(tuple(p), positive), min_points=1
    ),
}


@dataclass(frozen=True)
class AppMethod:
    """One method the Annotate page offers. ``first``: the gesture of an object's first
    interaction; ``then``: gestures that correct it (the first is the default; empty: a new
    ``first`` redraws the object). ``starts_from_mask``: corrections of an initial mask make
    sense, so the model's prediction can be the start. A learned method is offered only where
    its weights are (``method_ready``)."""

    method: str  # key of al_loop.interactive.METHODS
    label: str
    first: str
    then: tuple[str, ...]
    starts_from_mask: bool = False


APP_METHODS: tuple[AppMethod, ...] = (
    AppMethod("watershed_clicks", "Clicks (watershed)", "click", ("click",), True),
    AppMethod("grabcut_clicks", "Clicks (GrabCut)", "click", ("click",), True),
    AppMethod("ritm_clicks", "Clicks (RITM, learned)", "click", ("click",), True),
    AppMethod("extreme_points_grabcut", "Extreme points", "extreme_points", ("click", "stroke")),
    AppMethod("dextr", "Extreme points (DEXTR, learned)", "extreme_points", ("click",)),
    AppMethod("iog_grabcut", "Inside-outside (IOG)", "inside_outside", ("click", "stroke")),
    AppMethod("iog", "Inside-outside (IOG, learned)", "inside_outside", ("click",)),
    AppMethod("grabcut_box", "GrabCut box", "box", ("click", "stroke")),
    AppMethod("scribbles", "Scribbles", "stroke", ("stroke",), True),
    AppMethod("watershed_markers", "Watershed markers", "stroke", ("stroke",), True),
    AppMethod("polygon", "Polygon", "polygon", ("polygon",)),
)
BY_METHOD = {m.method: m for m in APP_METHODS}


@cache
def built_method(name: str):
    """The registered method ``name``, built once per process (a learned one keeps its
    network loaded from one object to the next), with the app's parameters (app.scaled)."""
    return scaled.app_method(name)


@cache
def method_ready(name: str) -> bool:
    """Whether ``name`` builds and, for a learned method, its weights load on this machine
    (learned methods read them in ``load()``; missing weights are a ConfigError). Cached per
    process: weights trained later appear after a restart."""
    try:
        method = built_method(name)
        if hasattr(method, "load"):
            method.load()
    except (AlLoopError, OSError, ImportError, ValueError):
        return False
    return True


def use_retrained(project_dir: str | Path, name: str) -> None:
    """Point this process's ``name`` at the project's newest weights retrained on its labels
    (``annotation.retrain``: the round job writes one file per round), if there are any."""
    from al_loop.interactive.learned.retrain import RETRAINED_DIR, latest_round_weights

    latest = latest_round_weights(Path(project_dir) / RETRAINED_DIR, name)
    if latest is not None and built_method(name).weights != latest:
        built_method(name).use_weights(latest)


def available_methods(
    registered: Collection[str], ready: Callable[[str], bool] = method_ready
) -> list[AppMethod]:
    """The rows of APP_METHODS the page can offer: registered and ready."""
    return [m for m in APP_METHODS if m.method in registered and ready(m.method)]


def default_tool(method: str) -> str:
    """The gesture that corrects ``method``'s objects unless the person picks another."""
    spec = BY_METHOD.get(method)
    return "click" if spec is None else (spec.then or (spec.first,))[0]


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def new_draft(method: str, class_id: int, now: float | None = None) -> dict:
    return {
        "method": method,
        "class_id": class_id,
        "positive": True,
        "tool": default_tool(method),
        "from_model": False,
        "objects": [],
        "current": [],
        "pending": [],
        "pending_t": [],
        "events": [_now(now)],
        "seq": 0,  # the last canvas event applied (app.canvas)
        "waits": [],  # [seq, start, seconds, source]: the person waiting on the app
    }


def normalize_draft(data: object, default_method: str, class_id: int) -> dict:
    """A saved draft made whole: missing keys get defaults (drafts written by an earlier app
    had an open polygon under ``vertices``); anything that is not a draft starts a new one."""
    if not isinstance(data, dict) or not isinstance(data.get("method"), str):
        return new_draft(default_method, class_id)
    draft = {**new_draft(data["method"], class_id), **data}
    if "vertices" in draft:
        draft["pending"] = draft.pop("vertices") or draft["pending"]
    if not draft["events"]:
        draft["events"] = [time.time()]  # measuring starts now, not at the epoch
    for obj in draft["objects"]:
        obj.setdefault("from_model", False)
    return draft


def active_gesture(draft: dict) -> str:
    """What the next point on the image is part of."""
    spec = BY_METHOD.get(draft["method"])
    if spec is None:
        return "click"
    if not draft["current"] or not spec.then:
        return spec.first
    return draft["tool"] if draft["tool"] in spec.then else spec.then[0]


def _complete(draft: dict, gesture: Gesture, now: float | None = None) -> None:
    interaction = gesture.build([tuple(p) for p in draft["pending"]], bool(draft["positive"]))
    data = {**to_json(interaction), **_timing(draft, _now(now))}
    # as it reads back from the draft file (lists, not tuples): a live session compares them
    draft["current"].append(json.loads(json.dumps(data)))
    _clear_pending(draft)


def _timing(draft: dict, end: float) -> dict:
    """The finished gesture's timestamps (none when a draft of an earlier app lacks them)."""
    times = draft.get("pending_t") or []
    start = draft.get("gesture_t0")
    if start is None or len(times) != len(draft["pending"]):
        return {}
    return {"t0": start, "t": times, "t1": end}


def _clear_pending(draft: dict) -> None:
    draft["pending"], draft["pending_t"] = [], []
    draft.pop("gesture_t0", None)


def _add_pending(draft: dict, points: Sequence[Point], now: float) -> None:
    if not draft["pending"]:
        draft["gesture_t0"] = draft["events"][-1] if draft["events"] else now
        draft["pending_t"] = []
    draft["pending"].extend([int(y), int(x)] for y, x in points)
    draft.setdefault("pending_t", []).extend([now] * len(points))


def add_point(draft: dict, y: int, x: int, now: float | None = None) -> dict:
    """A point on the image: one Click, or one point of the active gesture (which becomes an
    interaction once it has all its points)."""
    gesture = GESTURES[active_gesture(draft)]
    now = _now(now)
    _add_pending(draft, [(y, x)], now)
    if gesture.points is not None and len(draft["pending"]) >= gesture.points:
        _complete(draft, gesture, now)
    draft["events"].append(now)
    return draft


def add_stroke(draft: dict, points: Sequence[Point], now: float | None = None) -> dict:
    """A whole stroke drawn at once (the canvas); ignored unless strokes are the gesture."""
    if active_gesture(draft) == "stroke" and len(points) > 0:
        now = _now(now)
        _clear_pending(draft)
        _add_pending(draft, points, now)
        _complete(draft, GESTURES["stroke"], now)
        draft["events"].append(now)
    return draft


def finish_pending(draft: dict, now: float | None = None) -> dict:
    """Close the open polygon or end the open stroke (a gesture the person ends)."""
    gesture = GESTURES[active_gesture(draft)]
    if gesture.points is None and len(draft["pending"]) >= gesture.min_points:
        now = _now(now)
        _complete(draft, gesture, now)
        draft["events"].append(now)
    return draft


def set_tool(draft: dict, tool: str, now: float | None = None) -> dict:
    """Switch the correcting gesture; an open stroke is ended first, a partial one dropped."""
    if tool != draft["tool"]:
        finish_pending(draft, now)
        _clear_pending(draft)
        draft["tool"] = tool
    return draft


def undo(draft: dict, now: float | None = None) -> dict:
    """Take back the last action: a pending point, an interaction, the model's starting mask,
    or (nothing left on this object) reopen the previous object."""
    if draft["pending"]:
        draft["pending"].pop()
        if draft.get("pending_t"):
            draft["pending_t"].pop()
    elif draft["current"]:
        draft["current"].pop()
    elif draft["from_model"]:
        draft["from_model"] = False
    elif draft["objects"]:
        last = draft["objects"].pop()
        draft["current"], draft["class_id"] = last["interactions"], last["class_id"]
        draft["method"], draft["from_model"] = last["method"], last.get("from_model", False)
    draft["events"].append(_now(now))
    return draft


def reset(draft: dict, now: float | None = None) -> dict:
    draft.update(objects=[], current=[], from_model=False)
    _clear_pending(draft)
    draft["events"].append(_now(now))
    return draft


def _current_object(draft: dict) -> list[dict]:
    if not draft["current"] and not draft["from_model"]:
        return []
    return [
        {
            "class_id": draft["class_id"],
            "method": draft["method"],
            "from_model": bool(draft["from_model"]),
            "interactions": draft["current"],
        }
    ]


def next_object(draft: dict, now: float | None = None) -> dict:
    """Finish the object being drawn; the next interactions start a new one (from scratch)."""
    finish_pending(draft, now)
    _clear_pending(draft)  # an incomplete box or extreme-point set is not an interaction
    draft["objects"].extend(_current_object(draft))
    draft["current"], draft["from_model"] = [], False
    return draft


def all_objects(draft: dict) -> list[dict]:
    """Finished objects plus the one being drawn (if it has an interaction or a start)."""
    return draft["objects"] + _current_object(draft)


def interaction_log(draft: dict) -> list[dict]:
    """The store's interaction log: every interaction tagged with its object and class; an
    object that started from the model's prediction logs that start as its first entry."""
    waits = merge_intervals((w[1], w[1] + w[2]) for w in draft.get("waits", []))
    log = []
    for k, obj in enumerate(all_objects(draft)):
        tags = {"object": k, "class": obj["class_id"], "method": obj["method"]}
        if obj.get("from_model"):
            log.append({"start": "model", **tags})
        log.extend({**data, **_waits_within(data, waits), **tags} for data in obj["interactions"])
    return log


def _waits_within(entry: dict, waits: list[tuple[float, float]]) -> dict:
    """``waits``: the app's waits inside a timed interaction's span, so that costs measured
    from the log (al_loop.reports.costs) count the person's seconds only."""
    if "t0" not in entry or "t1" not in entry:
        return {}
    t0, t1 = entry["t0"], entry["t1"]
    inside = [[max(a, t0), min(b, t1)] for a, b in waits if min(b, t1) > max(a, t0)]
    return {"waits": inside} if inside else {}


def method_label(draft: dict) -> str:
    """The store's ``method`` column: every method used on the unit, '+'-joined."""
    return "+".join(sorted({obj["method"] for obj in all_objects(draft)})) or "none"


def object_mask(
    method: str,
    crop: np.ndarray,
    interactions: Sequence[dict],
    initial: np.ndarray | None = None,
) -> np.ndarray:
    """Replay ``interactions`` with ``method`` on ``crop`` (from ``initial``, if given), on
    the crop's working copy (app.scaled)."""
    session = scaled.start(built_method(method), crop, initial)
    mask = np.zeros(crop.shape[:2], bool) if initial is None else initial.copy()
    for data in interactions:
        mask = session.add(data)
    return mask


class LiveObject:
    """The session of the object being drawn, kept between page runs: a new click costs one
    ``add`` instead of replaying every earlier click (GrabCut replays grow with each click),
    and an undo returns to the session as it was (a snapshot per interaction) instead of
    replaying the rest. ``key`` must change whenever the crop or the initial mask does."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._applied: list[dict] = []
        self._history: list[tuple[scaled.ScaledSession, np.ndarray]] = []  # after k adds

    def mask(
        self,
        key: tuple,
        method: str,
        crop: np.ndarray,
        interactions: list[dict],
        initial: np.ndarray | None = None,
    ) -> np.ndarray:
        if self._key != (key, method):
            self._key, self._applied = (key, method), []
            session = scaled.start(built_method(method), crop, initial)
            start = np.zeros(crop.shape[:2], bool) if initial is None else initial.copy()
            self._history = [(session, start)]
        kept = 0
        for done, asked in zip(self._applied, interactions, strict=False):
            if done != asked:
                break
            kept += 1
        del self._applied[kept:], self._history[kept + 1 :]
        session, mask = self._history[kept]
        for data in interactions[kept:]:
            session = session.snapshot()  # the stored one stays as it was, for an undo
            mask = session.add(data)
            self._applied.append(data)
            self._history.append((session, mask))
        return mask


def parse_points(text: str) -> list[Point]:
    """The keyboard path: "y x" pairs separated by ';' (e.g. "10 10; 10 50; 50 50")."""
    points = []
    for part in text.split(";"):
        if part.strip():
            values = part.replace(",", " ").split()
            if len(values) != 2:
                raise ValueError(f"'{part.strip()}': expected two integers, y and x")
            points.append((int(values[0]), int(values[1])))
    return points
