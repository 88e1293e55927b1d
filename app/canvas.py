"""The Annotate page's canvas: a Streamlit component (static HTML/JS in ``canvas_frontend/``)
that draws every click, corner, vertex and stroke in the browser and sends Python only whole
interactions and actions. This module holds the Python half, free of page logic so it is
unit-tested: the arguments the canvas draws from, and the events it sends applied to a draft.

An event (``canvas.js``): ``{"seq": n, "kind": "gesture", "points": [[y, x], ...],
"times": [ms, ...], "positive": bool, "close": bool}`` (a completed gesture: one click, a box's
two corners, four extreme points, a closed polygon's vertices), ``{"kind": "stroke", "points",
"times": [start, end], "positive"}`` or ``{"kind": "action", "name": "undo" | "reset" | "next"
| "accept" | "skip" | "sign", "value": bool}``. Times are the browser's clock, placed on the
server's by the message's ``sent`` time. ``waits``: ``[[seq, seconds], ...]``, how long each
interaction's mask took to show in the browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from app import session as drafts

FRONTEND = Path(__file__).resolve().parent / "canvas_frontend"
WAITING_EVENTS = ("gesture", "stroke", "undo", "reset", "next")  # a mask is recomputed
PAGE_ACTIONS = ("accept", "skip")  # the page, not the draft, handles these


def runs(labels: np.ndarray) -> dict:
    """Run-length code of a uint8 map, row-major: ``{"values": [...], "lengths": [...]}``."""
    flat = np.ascontiguousarray(labels, np.uint8).ravel()
    if flat.size == 0:
        return {"values": [], "lengths": []}
    starts = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], starts, [flat.size]])
    return {"values": flat[bounds[:-1]].tolist(), "lengths": np.diff(bounds).tolist()}


def label_map(hw: tuple[int, int], objects: Sequence[tuple[int, np.ndarray]]) -> np.ndarray:
    """uint8 [H,W]: class id + 1 of the last object covering each pixel, 0 where none does."""
    out = np.zeros(hw, np.uint8)
    for class_id, mask in objects:
        out[mask] = class_id + 1
    return out


def encode_image(crop: np.ndarray) -> bytes:
    """The crop as JPEG bytes (quality 92): a tenth of a PNG's size, decoded at once."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
    )
    if not ok:
        raise ValueError("could not encode the crop as JPEG")
    return buf.tobytes()


def gesture_args(name: str) -> dict:
    gesture = drafts.GESTURES[name]
    return {
        "name": name,
        "points": gesture.points,
        "min_points": gesture.min_points,
        "label": gesture.label,
    }


def then_gesture(draft: dict) -> str:
    """The gesture after the object being drawn has an interaction (its corrections)."""
    spec = drafts.BY_METHOD.get(draft["method"])
    if spec is None or not spec.then:
        return drafts.active_gesture(draft)
    return draft["tool"] if draft["tool"] in spec.then else spec.then[0]


@dataclass
class Applied:
    """What a message did: ``changed`` (the draft), ``page`` (accept / skip, in order),
    ``waiting`` ((seq, server time it was sent) of each event whose mask the person awaits)."""

    changed: bool = False
    page: list[str] = field(default_factory=list)
    waiting: list[tuple[int, float]] = field(default_factory=list)


def _server_time(client_ms: float, sent_ms: float, now: float) -> float:
    """A browser time on the server's clock: as long before ``now`` as it was before sending."""
    return now - max(0.0, (float(sent_ms) - float(client_ms)) / 1000.0)


def apply_events(draft: dict, value: object, unit_id: int, now: float) -> Applied:
    """Apply the canvas's new events (``seq`` above the draft's) to ``draft`` in place, and
    the browser's measured waits; a message for another unit, or none, changes nothing."""
    done = Applied()
    if not isinstance(value, dict) or value.get("unit") != unit_id:
        return done
    sent = value.get("sent", now * 1000.0)
    for event in value.get("events") or []:
        seq = event.get("seq", 0)
        if seq <= draft["seq"]:
            continue  # applied in an earlier run: the canvas resends until acknowledged
        draft["seq"] = seq
        times = event.get("times") or [sent]
        at = _server_time(times[-1], sent, now)
        kind, name = event.get("kind"), event.get("name")
        if kind == "gesture":
            _gesture(draft, event, [_server_time(t, sent, now) for t in times])
        elif kind == "stroke" and drafts.active_gesture(draft) == "stroke":
            with _signed(draft, event):
                drafts.add_stroke(draft, [tuple(p) for p in event["points"]], now=at)
        elif kind == "action" and name in PAGE_ACTIONS:
            done.page.append(name)
            continue
        elif kind == "action" and name == "sign":
            draft["positive"] = bool(event.get("value"))
            draft["events"].append(at)
        elif kind == "action" and name in ACTIONS:
            ACTIONS[name](draft, now=at)
        else:
            continue  # a stroke while strokes are not the gesture: nothing to apply
        done.changed = True
        if kind in WAITING_EVENTS or name in WAITING_EVENTS:
            done.waiting.append((seq, at))
    done.changed |= record_browser_waits(draft, value.get("waits") or [])
    return done


def _gesture(draft: dict, event: dict, times: list[float]) -> None:
    """A completed gesture's points, one by one as if clicked, then closed if it is one the
    person ends (a polygon). A click's sign is the event's (a right click is negative)."""
    with _signed(draft, event):
        for (y, x), t in zip(event.get("points") or [], times, strict=False):
            drafts.add_point(draft, int(y), int(x), now=t)
        if event.get("close"):
            drafts.finish_pending(draft, now=times[-1] if times else None)


@contextmanager
def _signed(draft: dict, event: dict):
    """The draft's sign is the event's while it is applied (a right click is negative)."""
    sign = draft["positive"]
    draft["positive"] = bool(event.get("positive", sign))
    try:
        yield
    finally:
        draft["positive"] = sign


ACTIONS = {
    "undo": drafts.undo,
    "reset": drafts.reset,
    "next": drafts.next_object,
}


def record_server_wait(draft: dict, seq: int, sent_at: float, shown_at: float) -> None:
    """The server's view of a wait (from the event to the mask computed and sent), kept
    until the browser reports the whole of it (``record_browser_waits``)."""
    draft["waits"].append([int(seq), float(sent_at), max(0.0, shown_at - sent_at), "server"])


def record_browser_waits(draft: dict, waits: Sequence) -> bool:
    """Replace the server's estimate of each wait by the browser's measure (it includes the
    network and the drawing); whether anything changed."""
    by_seq = {int(w[0]): w for w in draft["waits"]}
    changed = False
    for seq, seconds in waits:
        entry = by_seq.get(int(seq))
        if entry is not None and entry[3] != "browser":
            entry[2], entry[3] = max(0.0, float(seconds)), "browser"
            changed = True
    return changed


def wait_intervals(draft: dict) -> list[tuple[float, float]]:
    """(start, end) server times the person spent waiting on the app."""
    return [(w[1], w[1] + w[2]) for w in draft.get("waits", [])]


def canvas_args(
    unit_id: int,
    crop: np.ndarray,
    image: bytes,
    labels: np.ndarray,
    labels_key: str,
    colors: Sequence[Sequence[int]],
    unit_rect: tuple[int, int, int, int],
    draft: dict,
    external: int,
) -> dict:
    """What canvas.js draws from. ``image``: the crop's JPEG (sent as bytes); it and the label
    runs are decoded again only when their keys change. ``external``: a count of the draft's
    changes made outside the canvas (buttons, typed points): the canvas then drops the points
    of a gesture it has not sent."""
    return {
        "unit": unit_id,
        "hw": list(crop.shape[:2]),
        "image": image,
        "image_type": "image/jpeg",
        "image_key": f"{unit_id}:{crop.shape[0]}x{crop.shape[1]}",
        "labels": runs(labels),
        "labels_key": labels_key,
        "colors": [list(map(int, c)) for c in colors],
        "unit_rect": list(unit_rect),
        "current": draft["current"],
        "pending": draft["pending"],
        "gesture": gesture_args(drafts.active_gesture(draft)),
        "then": gesture_args(then_gesture(draft)),
        "positive": bool(draft["positive"]),
        "acked": draft["seq"],
        "external": external,
    }


_component = None


def canvas(args: dict, key: str):
    """Draw the canvas; its latest message (or None). Declared on first use, with the page."""
    global _component
    if _component is None:
        import streamlit.components.v1 as components

        _component = components.declare_component("canvas", path=str(FRONTEND))
    return _component(**args, key=key, default=None)
