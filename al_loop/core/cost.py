"""Cost model: seconds a person needs for the interactions on one object, from configs/costs.yaml.

The canonical table is ``configs/costs.yaml`` at the repository root, found relative to this
file (``al_loop/../configs``), as for every shipped config in an editable install. A wheel does
not carry ``configs/``: pass ``path`` explicitly there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from al_loop.core import interactions as ix
from al_loop.core.errors import ConfigError

DEFAULT_COSTS_PATH = Path(__file__).resolve().parents[2] / "configs" / "costs.yaml"
# A person's timed gap between two actions counts at most this much (a longer one is idling):
# the app's seconds per unit and the costs measured from them (al_loop/reports/costs.py).
IDLE_CAP_SECONDS = 30.0

TOP_KEYS = ("entries", "polygon_pricing")
# n and quartiles: a table measured from people (al-loop costs) gives its sample size and spread
ENTRY_KEYS = ("seconds", "same_as", "source", "assumption", "reason", "note", "n", "quartiles")
POLYGON_PRICING = ("per_instance", "per_vertex")
ORACLE_POLYGON_METHOD = "oracle_polygon"  # the reference baseline: always priced per instance

# Entries ``seconds`` needs; a table may hold more (other parts price what they need by name).
REQUIRED_ENTRIES = (
    "click_first",
    "click_further",
    "extreme_points",
    "inside_outside",
    "box",
    "polygon_instance",
    "polygon_vertex",
    "region_label",
    "confirm_background",
    "scribble_stroke",
)


@dataclass(frozen=True)
class CostEntry:
    name: str
    seconds: float
    source: str | None
    assumption: bool
    reason: str | None


class CostTable:
    """Prices one object's interaction sequence (``CostModel`` protocol)."""

    def __init__(
        self,
        entries: Mapping[str, CostEntry],
        polygon_pricing: str = "per_instance",
        origin: str = "<table>",
    ):
        self.entries = dict(entries)
        self.polygon_pricing = polygon_pricing
        self.origin = origin

    @classmethod
    def load(cls, path: str | Path | None = None) -> CostTable:
        """The table at ``path``, or the shipped ``configs/costs.yaml``."""
        path = Path(path) if path is not None else DEFAULT_COSTS_PATH
        if not path.is_file():
            raise ConfigError(f"{path}: cost table not found; pass the path to a costs.yaml")
        try:
            data = yaml.safe_load(path.read_text())
        except (UnicodeDecodeError, yaml.YAMLError) as err:
            first = str(err).splitlines()[0]
            raise ConfigError(f"{path}: not valid YAML text ({first})") from None
        return cls.from_dict(data, origin=str(path))

    @classmethod
    def from_dict(cls, data: Any, origin: str = "<dict>") -> CostTable:
        if not isinstance(data, dict):
            raise ConfigError(f"{origin}: expected a mapping with keys {', '.join(TOP_KEYS)}")
        _check_keys(data, TOP_KEYS, origin, "")
        raw = data.get("entries")
        if not isinstance(raw, dict) or not raw:
            raise ConfigError(f"{origin}: entries: expected a non-empty mapping of named entries")
        pricing = data.get("polygon_pricing", "per_instance")
        if pricing not in POLYGON_PRICING:
            raise ConfigError(
                f"{origin}: polygon_pricing: '{pricing}' is not one of {', '.join(POLYGON_PRICING)}"
            )
        entries = {name: _parse_entry(name, raw, origin) for name in raw}
        missing = [name for name in REQUIRED_ENTRIES if name not in entries]
        if missing:
            raise ConfigError(f"{origin}: entries: missing {', '.join(missing)}")
        return cls(entries, pricing, origin)

    def __getitem__(self, name: str) -> float:
        """Seconds of one named entry, e.g. ``table["choose_class"]``."""
        if name not in self.entries:
            raise ConfigError(
                f"{self.origin}: no cost entry '{name}'; valid: {', '.join(sorted(self.entries))}"
            )
        return self.entries[name].seconds

    def get(self, name: str, default: float | None = None) -> float | None:
        return self.entries[name].seconds if name in self.entries else default

    def seconds(self, interactions: Sequence[Any], method: str) -> float:
        """Seconds for one object's interactions, in order; JSON dicts from a log are accepted.

        The first click on an object costs ``click_first``; a click after any interaction on the
        same object (the object is already found) costs ``click_further``. All polygons of one
        object cost ``polygon_instance`` once (per-instance pricing) or ``polygon_vertex`` per
        vertex; ``oracle_polygon`` is always priced per instance.
        """
        per_vertex = self.polygon_pricing == "per_vertex" and method != ORACLE_POLYGON_METHOD
        total, located, polygon_paid = 0.0, False, False
        for item in interactions:
            interaction = _as_interaction(item)
            if isinstance(interaction, ix.Click):
                total += self["click_further" if located else "click_first"]
            elif isinstance(interaction, ix.Polygon):
                if per_vertex:
                    total += self["polygon_vertex"] * len(interaction.vertices)
                elif not polygon_paid:
                    total += self["polygon_instance"]
                polygon_paid = True
            else:
                total += self[_entry_for(interaction)]
            located = True
        return total

    def assumptions(self) -> dict[str, str]:
        """Entry name -> reason, for every number nobody measured (reports list them)."""
        return {e.name: e.reason or "" for e in self.entries.values() if e.assumption}


_SIMPLE_PRICES = {
    ix.ExtremePoints: "extreme_points",
    ix.InsideOutside: "inside_outside",
    ix.Box: "box",
    ix.Scribble: "scribble_stroke",  # one Scribble interaction is one stroke
    ix.SegmentLabel: "region_label",
    ix.ConfirmBackground: "confirm_background",
}


def _entry_for(interaction: Any) -> str:
    try:
        return _SIMPLE_PRICES[type(interaction)]
    except KeyError:
        raise TypeError(f"no price for interaction {type(interaction).__name__}") from None


def _as_interaction(item: Any) -> Any:
    """An interaction, or one rebuilt from its JSON log record (extra log keys dropped)."""
    if not isinstance(item, dict):
        return item
    cls = ix.INTERACTION_TYPES.get(item.get("type"))
    if cls is None:
        raise TypeError(f"no price for interaction {item.get('type')!r}")
    fields = {f.name for f in dataclasses.fields(cls)}
    return ix.from_json({k: v for k, v in item.items() if k == "type" or k in fields})


def _check_keys(data: dict, valid: Sequence[str], origin: str, prefix: str) -> None:
    for key in data:
        if key not in valid:
            raise ConfigError(f"{origin}: {prefix}{key}: unknown key; valid: {', '.join(valid)}")


def _parse_entry(name: str, raw: dict, origin: str, seen: tuple[str, ...] = ()) -> CostEntry:
    where = f"entries.{name}"
    spec = raw.get(name)
    if spec is None and seen:
        raise ConfigError(f"{origin}: entries.{seen[-1]}.same_as: no entry named '{name}'")
    if not isinstance(spec, dict):
        raise ConfigError(
            f"{origin}: {where}: expected a mapping with keys {', '.join(ENTRY_KEYS)}"
        )
    _check_keys(spec, ENTRY_KEYS, origin, where + ".")
    assumption = spec.get("assumption", False)
    if not isinstance(assumption, bool):
        raise ConfigError(f"{origin}: {where}.assumption: expected true or false")
    if assumption and not spec.get("reason"):
        raise ConfigError(f"{origin}: {where}.reason: an assumption needs a reason")
    if not assumption and not spec.get("source"):
        raise ConfigError(f"{origin}: {where}.source: a measured number needs its source")
    _check_measured(spec, origin, where)
    if ("seconds" in spec) == ("same_as" in spec):
        raise ConfigError(f"{origin}: {where}: give exactly one of seconds, same_as")
    if "same_as" in spec:
        target = spec["same_as"]
        if target in seen or target == name:
            raise ConfigError(f"{origin}: {where}.same_as: cycle through '{target}'")
        seconds = _parse_entry(target, raw, origin, (*seen, name)).seconds
    else:
        seconds = spec["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ConfigError(f"{origin}: {where}.seconds: expected a number >= 0, got {seconds!r}")
    return CostEntry(name, float(seconds), spec.get("source"), assumption, spec.get("reason"))


def _check_measured(spec: dict, origin: str, where: str) -> None:
    n, quartiles = spec.get("n"), spec.get("quartiles")
    if "n" in spec and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"{origin}: {where}.n: expected a whole number >= 1, got {n!r}")
    if "quartiles" in spec and not (
        isinstance(quartiles, list)
        and len(quartiles) == 2
        and all(isinstance(q, (int, float)) and not isinstance(q, bool) for q in quartiles)
        and 0 <= quartiles[0] <= quartiles[1]
    ):
        raise ConfigError(
            f"{origin}: {where}.quartiles: expected [lower, upper] seconds, 0 <= lower <= upper"
        )
