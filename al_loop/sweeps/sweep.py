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
from pathlib import Path, PurePath
from typing import Any

import yaml
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
    data = yaml.safe_load(found.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{found}: the top level must be a mapping")
    return data


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


def format_value(value: Any) -> str:
    """A value as a file-name-safe token: 0.001 -> '0.001', [64, 64] -> '64x64', a path -> its name,
    {name: entropy, params: {class_balance: true}} -> 'entropy+params-class_balance-true'."""
    if isinstance(value, bool) or value is None:
        text = str(value).lower()
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list | tuple):
        text = "x".join(format_value(v) for v in value)
    elif isinstance(value, dict):  # a part named by "name" ({name: entropy, ...}) leads with it
        lead = [format_value(value["name"])] if "name" in value else []
        text = "+".join(lead + [f"{k}-{format_value(v)}" for k, v in value.items() if k != "name"])
    else:
        text = str(value)
        text = PurePath(text).name or text if "/" in text else text
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "empty"


def run_name(params: dict[str, Any], labels: dict[str, str]) -> str:
    name = ",".join(f"{labels[k]}={format_value(v)}" for k, v in params.items()) or "base"
    if len(name) > MAX_NAME_LENGTH:  # keep it readable and unique
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME_LENGTH - 9]}-{digest}"
    return name
