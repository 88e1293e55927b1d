"""Simulated users: from ground truth and the current mask, the next interaction.

``USERS`` maps the interaction kind a method expects (``InteractiveMethod.interaction``) to the
user that produces it; ``make_user`` builds one. Users are deterministic for a given seed.

Beyond the ``SimulatedUser`` protocol, a user may set ``stops_at_target``: True (the default)
when the annotation loop should stop it at the target IoU or the interaction cap (a clicker),
False when it describes the whole object and ends by returning None (a polygon tracer).
"""

from __future__ import annotations

from collections.abc import Callable

from al_loop.core.errors import ConfigError
from al_loop.core.geometry import encode_gt
from al_loop.core.protocols import SimulatedUser
from simulators.clicker import NocClicker, farthest_error_click
from simulators.polygon import PolygonUser, oracle_polygon_user
from simulators.seeded import BoxUser, ExtremePointsUser, InsideOutsideUser, ScribbleUser

USERS: dict[str, Callable[..., SimulatedUser]] = {
    "click": NocClicker,
    "polygon": PolygonUser,
    "polygon_exact": oracle_polygon_user,
    "extreme_points": ExtremePointsUser,
    "box": BoxUser,
    "inside_outside": InsideOutsideUser,
    "scribble": ScribbleUser,
}


def make_user(kind: str, seed: int = 0, **params) -> SimulatedUser:
    """A fresh user for one object, e.g. ``make_user("click", seed=3, jitter=2.0)``."""
    if kind not in USERS:
        raise ConfigError(
            f"simulated user: no user for interaction '{kind}'; valid: {', '.join(sorted(USERS))}"
        )
    try:
        return USERS[kind](seed=seed, **params)
    except TypeError as err:
        raise ConfigError(f"simulated user '{kind}': {err}") from err


__all__ = [
    "USERS",
    "BoxUser",
    "ExtremePointsUser",
    "InsideOutsideUser",
    "ScribbleUser",
    "NocClicker",
    "PolygonUser",
    "encode_gt",
    "farthest_error_click",
    "make_user",
    "oracle_polygon_user",
]
