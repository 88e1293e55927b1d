"""Interactions are plain data: what a user (simulated or a person) does to an image.

Coordinates are (y, x) pixels in the image the method was started on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Click:
    y: int
    x: int
    positive: bool = True


@dataclass(frozen=True)
class Box:
    y0: int
    x0: int
    y1: int
    x1: int


@dataclass(frozen=True)
class ExtremePoints:
    points: tuple[tuple[int, int], ...]  # four (y, x): top, bottom, left, right


@dataclass(frozen=True)
class InsideOutside:
    corners: tuple[tuple[int, int], tuple[int, int]]  # two opposite box corners (background)
    inside: tuple[int, int]  # one foreground click


@dataclass(frozen=True)
class Polygon:
    vertices: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Scribble:
    points: tuple[tuple[int, int], ...]
    positive: bool = True


@dataclass(frozen=True)
class SegmentLabel:
    """Assign ``label`` to whole segments at once (superpixels or a box in a projection)."""

    segment_ids: tuple[int, ...]
    label: int


@dataclass(frozen=True)
class ConfirmBackground:
    """The unit holds no object: one click to say so."""


INTERACTION_TYPES = {
    cls.__name__: cls
    for cls in (
        Click,
        Box,
        ExtremePoints,
        InsideOutside,
        Polygon,
        Scribble,
        SegmentLabel,
        ConfirmBackground,
    )
}


def to_json(interaction) -> dict:
    """A JSON-ready dict, tagged with the type name, for the store's interaction log."""
    return {"type": type(interaction).__name__, **asdict(interaction)}


def from_json(data: dict):
    """The interaction of a log record; what the log adds beside its fields (the object and
    class it belongs to, the app's timestamps ``t0``/``t``/``t1``) is left out."""
    cls = INTERACTION_TYPES[data["type"]]
    names = {f.name for f in fields(cls)}

    def tuplify(v):
        return tuple(tuplify(x) for x in v) if isinstance(v, list) else v

    return cls(**{k: tuplify(v) for k, v in data.items() if k in names})
