"""Interactive methods: interactions -> bool mask.

Each method has ``name``, ``interaction`` (the kind of interaction its simulated user must
produce: a key of ``simulators.USERS``) and ``start(image uint8 [H,W,3] RGB, initial_mask=None)``
returning a session with ``add(interaction) -> mask`` and ``.mask``. All are deterministic. With
an initial mask, the session starts from it and clicks correct it.
"""

from __future__ import annotations

from collections.abc import Callable

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import InteractiveMethod
from al_loop.interactive.grabcut import GrabCutClicks
from al_loop.interactive.learned import dextr, iog, ritm_clicks
from al_loop.interactive.polygon import PolygonMethod, oracle_polygon
from al_loop.interactive.seeded import (
    ScribbleGrabCut,
    WatershedMarkers,
    extreme_points_grabcut,
    grabcut_box,
    iog_grabcut,
)
from al_loop.interactive.watershed import WatershedClicks

# al-loop train-interactive writes their weights; param ``weights``: the file
LEARNED: dict[str, Callable[..., InteractiveMethod]] = {
    "ritm_clicks": ritm_clicks,
    "dextr": dextr,
    "iog": iog,
}
METHODS: dict[str, Callable[..., InteractiveMethod]] = {
    "grabcut_clicks": GrabCutClicks,
    "watershed_clicks": WatershedClicks,
    "polygon": PolygonMethod,
    "oracle_polygon": oracle_polygon,
    "grabcut_box": grabcut_box,
    "extreme_points_grabcut": extreme_points_grabcut,
    "iog_grabcut": iog_grabcut,
    "scribbles": ScribbleGrabCut,
    "watershed_markers": WatershedMarkers,
    **LEARNED,
}
LEARNED_METHODS = frozenset(LEARNED)  # need trained weights to start


def make_method(name: str, **params) -> InteractiveMethod:
    """The method registered as ``name``, built with ``params``; ConfigError if unknown."""
    if name not in METHODS:
        raise ConfigError(
            f"annotation.method: unknown '{name}'; valid: {', '.join(sorted(METHODS))}"
        )
    try:
        return METHODS[name](**params)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"annotation.method '{name}': {err}") from err


__all__ = [
    "LEARNED_METHODS",
    "METHODS",
    "GrabCutClicks",
    "PolygonMethod",
    "WatershedClicks",
    "make_method",
    "oracle_polygon",
]
