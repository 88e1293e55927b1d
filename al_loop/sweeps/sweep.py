"""The sweep file: a grid of simulated-user experiments, expanded into validated, named runs.

A sweep file (YAML) names a base config and the overrides that vary::

    name: sweep_demo            # default: the file's stem
    base: demo.yaml             # a config file (next to this file, then configs/) or a mapping
    threads: 1                  # CPU threads of each run; written into its config (see below)
    overrides:                  # applied to every run; dotted keys or nested mappings
      budget.total_seconds: 360
    grid:                       # every combination is one run
      strategy.name: [random, entropy]
      annotation.method: [watershed_clicks, oracle_polygon]
      seed: [0, 1]
    include:                    # optional explicit runs, each a mapping of overrides
      - {strategy.name: margin, seed: 0}

``grids`` (a list of grids) adds the union of several smaller products, for when the full
product is too dear: e.g. every strategy with one method, plus every method with two strategies.
A run that two of them share is run once; keys are named in their order of first appearance::

    grids:
      - {strategy.name: [random, entropy, bald], annotation.method: [grabcut_clicks], seed: [0, 1]}
      - {strategy.name: [random, entropy], annotation.method: [oracle_polygon], seed: [0, 1]}

Every run is validated up front and named by its parameters
(``strategy=random,method=watershed_clicks,seed=0``). Running them: ``schedule.run_sweep``
(queue and deadline), ``execute.execute_run`` (one run, resumable), ``pools`` (in-process or Ray).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from al_loop.core.config import (
    ExperimentConfig,
    describe_validation_error,
    merge,
    parse_config,
    read_yaml_mapping,
)
from al_loop.core.errors import ConfigError
from al_loop.core.paths import CONFIG_DIR

MAX_NAME_LENGTH = 150


# -- the sweep file -------------------------------------------------------------------------
class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    base: str | dict[str, Any] = "demo.yaml"
    threads: int = Field(1, gt=0)
    overrides: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    grids: list[dict[str, list[Any]]] = Field(default_factory=list)  # a union of sub-grids
    include: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("grid")
    @classmethod
    def _no_empty_axis(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [key for key, values in grid.items() if not values]
        if empty:
            raise ValueError(f"grid key '{empty[0]}' has no values")
        return grid

    @field_validator("grids")
    @classmethod
    def _no_empty_sub_grid(cls, grids: list[dict[str, list[Any]]]) -> list[dict[str, list[Any]]]:
        for index, grid in enumerate(grids):
            if not grid:
                raise ValueError(f"grids[{index}] is empty")
            cls._no_empty_axis(grid)
        return grids


@dataclass(frozen=True)
class RunSpec:
    name: str  # directory name, from the parameters
    params: dict[str, Any]  # the grid / include overrides that make this run
    config: ExperimentConfig


@dataclass(frozen=True)
class Sweep:
    name: str
    source: str
    runs: list[RunSpec]


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    data = read_yaml_mapping(path, what="sweep")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, str(path))) from None
    name = spec.name or path.stem
    return Sweep(name, str(path), expand_runs(spec, base_config(spec.base, path.parent), name))


def base_config(base: str | dict[str, Any], folder: Path) -> dict[str, Any]:
    """The base config as a plain mapping: inline, or a file next to the sweep file or in configs/."""
    if isinstance(base, dict):
        return base
    candidates = [folder / base, CONFIG_DIR / base, Path(base)]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise ConfigError(
            f"base: config '{base}' not found next to the sweep file or in {CONFIG_DIR}"
        )
    return read_yaml_mapping(found)


def _product(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in product(*grid.values())]


def union_of_grids(grids: Sequence[dict[str, list[Any]]]) -> list[dict[str, Any]]:
    """The runs of every sub-grid in turn, each once: keys in their order of first appearance
    over all sub-grids, so that a run two sub-grids share gets one name and is kept once."""
    order = list(dict.fromkeys(key for grid in grids for key in grid))
    runs, seen = [], set()
    for grid in grids:
        for params in _product(grid):
            identity = json.dumps(params, sort_keys=True, default=str)
            if identity not in seen:
                seen.add(identity)
                runs.append({key: params[key] for key in order if key in params})
    return runs


def combinations(spec: SweepSpec) -> list[dict[str, Any]]:
    """The grid's cartesian product (first key varies slowest), then the union of ``grids``,
    then the explicit runs."""
    grid = _product(spec.grid) if spec.grid else []
    explicit = [dict(extra) for extra in spec.include]
    return grid + union_of_grids(spec.grids) + explicit or [{}]


def expand_runs(spec: SweepSpec, base: dict[str, Any], sweep_name: str) -> list[RunSpec]:
    """Every run's validated config; a bad key or value fails here, before anything runs."""
    params_list = combinations(spec)
    labels = short_keys(list(dict.fromkeys(k for params in params_list for k in params)))
    common = merge(merge(base, {"threads": spec.threads}), spec.overrides)
    runs: list[RunSpec] = []
    seen: dict[str, dict[str, Any]] = {}
    for params in params_list:
        name = run_name(params, labels)
        if name in seen:
            raise ConfigError(
                f"sweep: runs {seen[name]} and {params} get the same name '{name}'; "
                "make their values differ or drop the duplicate"
            )
        seen[name] = params
        data = merge(merge(common, params), {"name": f"{sweep_name}/{name}"})
        runs.append(RunSpec(name, params, parse_config(data, origin=f"sweep run '{name}'")))
    return runs


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Readable labels for dotted keys: the last part, or the section for ``*.name``
    (``strategy.name`` -> ``strategy``); labels that would collide keep the full key."""

    def short(key: str) -> str:
        parts = key.split(".")
        return parts[-2] if len(parts) > 1 and parts[-1] == "name" else parts[-1]

    counts = Counter(short(k) for k in keys)
    return {k: short(k) if counts[short(k)] == 1 else k for k in keys}


# -- run names: readable, unique and reversible ----------------------------------------------
# A value's token in a run name: readable when that reads back as the same value (entropy, 3,
# -1, 0.001, true, none, 64x64, purity@0.9+max_wrong@5), else '~' + the %-escaped JSON. A part
# named by "name" leads with it: {name: entropy, params: {class_balance: true}} ->
# entropy+params@class_balance@true, {name: random} -> random+ (the '+' tells it from the string
# 'random'). Strings are %-escaped (quote), so a token never holds ',', '=', '/', '+', '@' or a
# leading '~'; it reads back by parse_value alone, and distinct values give distinct tokens.
_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_NUMBERS = re.compile(r"-?[\d.]+(?:[eE][-+]?\d+)?(?:x-?[\d.]+(?:[eE][-+]?\d+)?)+")


def _readable(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    if isinstance(value, str):
        return quote(value, safe="")
    if isinstance(value, list | tuple) and value:
        parts = [_readable(v) for v in value]
        return "x".join(parts) if all(p is not None for p in parts) else None
    if isinstance(value, dict) and value:
        return _readable_mapping(value)
    return None


def _readable_mapping(value: dict) -> str | None:
    lead = [_readable(value["name"])] if "name" in value else []
    items = [(str(k), _readable(v)) for k, v in value.items() if k != "name"]
    if None in lead or any(v is None for _, v in items):
        return None
    text = "+".join(lead + [f"{quote(k, safe='')}@{v}" for k, v in items])
    return text if items else f"{text}+"  # the name alone: 'random+', not the string 'random'


def parse_value(token: str) -> Any:
    """The value a run-name token stands for (the inverse of format_value)."""
    if token.startswith("~"):
        return json.loads(unquote(token[1:]))
    if token in ("none", "true", "false"):
        return {"none": None, "true": True, "false": False}[token]
    if _INT.fullmatch(token):
        return int(token)
    if _FLOAT.fullmatch(token):
        return float(token)
    if _NUMBERS.fullmatch(token):
        return [parse_value(t) for t in token.split("x")]
    if "@" in token or "+" in token:
        return _parse_mapping(token)
    return unquote(token)


def _parse_mapping(token: str) -> dict[str, Any]:
    parts = token.split("+")
    out: dict[str, Any] = {}
    if "@" not in parts[0]:  # a named part: its name leads
        out["name"] = parse_value(parts.pop(0))
        if parts == [""]:  # the name alone ('random+')
            return out
    for part in parts:
        key, at, value = part.partition("@")
        if not at:
            raise ValueError(f"run-name token {token!r}: '{part}' is not KEY@VALUE")
        out[unquote(key)] = parse_value(value)
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal as config values: 600 is 600.0, but True is not 1, a tuple is its list and a
    mapping's key order does not matter (a named part leads with its name)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def format_value(value: Any) -> str:
    """A value as a file-name-safe token that reads back as the same value (parse_value)."""
    token = _readable(value)
    try:
        if token is not None and _same(parse_value(token), value):
            return token
    except ValueError:
        pass  # e.g. '~' opening a string that is not escaped JSON
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise ConfigError(f"sweep: value {value!r} cannot be written in a run name") from None
    return "~" + quote(text, safe="")


def run_name(params: dict[str, Any], labels: dict[str, str]) -> str:
    """``label=token,...`` in the order of ``params``; ``labels``: short_keys of the sweep."""
    name = ",".join(f"{labels[k]}={format_value(v)}" for k, v in params.items()) or "base"
    if len(name) > MAX_NAME_LENGTH:  # file names have a limit: readable head, unique digest
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        # ',~digest': a part without '=', which no full name has, so the two never meet
        name = f"{name[: MAX_NAME_LENGTH - 10]},~{digest}"
    return name


def parse_run_name(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The params a run name was made from (the inverse of run_name with the same labels);
    a ConfigError for a name run_name does not make, such as a shortened one."""
    keys = {label: key for key, label in labels.items()}
    params: dict[str, Any] = {}
    try:
        for part in [] if name == "base" else name.split(","):
            label, equals, token = part.partition("=")
            if not equals:
                raise ValueError(part)
            params[keys[label]] = parse_value(token)
    except (KeyError, ValueError):
        params = None
    if params is None or run_name(params, labels) != name:
        raise ConfigError(f"sweep: '{name}' is not a run name of this sweep (or was shortened)")
    return params
