"""Datasets: readers, the synthetic generator, splits, and the registry the config names.

``load_dataset(name, **params)`` is the one entry point of the loop; ``DATASETS`` maps each
name to a function whose keyword arguments are that dataset's valid params:

- ``synthetic``: num_images, hw, seed, fractions
- ``folder``: root, hw, fractions, seed, group_size, require_masks
- ``davis``: root, hw, fractions, seed, group_size, limit (whole videos per split by default)
- ``grabcut``: root, hw, fractions, seed, limit
- ``camvid``: root, hw, limit (per split, evenly spaced), sequences (of the pool); the SegNet split
- ``run``: root (a run directory or app project: the labels acquired so far, see run.py)
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from al_loop.core.errors import ConfigError
from al_loop.data.base import IGNORE, ClassInfo, DatasetSplits, SegmentationData
from al_loop.data.benchmarks import (
    BINARY_CLASSES,
    DAVIS_HW,
    DAVIS_ROOT,
    DAVIS_VIDEOS,
    GRABCUT_HW,
    GRABCUT_ROOT,
    load_davis,
    load_davis_samples,
    load_grabcut,
    load_grabcut_samples,
)
from al_loop.data.camvid import (
    CAMVID_CLASSES,
    CAMVID_HW,
    CAMVID_RARE_CLASSES,
    CAMVID_ROOT,
    camvid_splits,
    check_sequences,
    load_camvid,
)
from al_loop.data.folder import Sample, as_hw, load_folder, read_classes, write_folder
from al_loop.data.splits import DEFAULT_FRACTIONS, check_fractions, split_data
from al_loop.data.synthetic import SYNTHETIC_CLASSES, SYNTHETIC_RARE_CLASS, make_synthetic

DAVIS_GROUP_SIZE = 7  # fallback for a DAVIS folder whose frames are not the known 345


def synthetic_splits(
    num_images: int = 300,
    hw: tuple[int, int] = (128, 128),
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> DatasetSplits:
    return split_data(make_synthetic(num_images, hw, seed), fractions, seed)


def folder_splits(
    root: str | Path,
    hw: tuple[int, int] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    group_size: int = 1,
    require_masks: bool = False,
) -> DatasetSplits:
    return split_data(load_folder(root, hw, require_masks), fractions, seed, group_size)


def davis_splits(
    root: str | Path = DAVIS_ROOT,
    hw: tuple[int, int] | None = DAVIS_HW,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    group_size: int | None = None,
    limit: int | None = None,
) -> DatasetSplits:
    """``group_size=None`` keeps whole videos together (no near-duplicate leaks across splits);
    an integer groups that many consecutive frames instead."""
    data = load_davis(root, hw, limit)
    if group_size is None and "groups" in data.meta:
        return split_data(data, fractions, seed, groups=data.meta["groups"])
    return split_data(data, fractions, seed, group_size or DAVIS_GROUP_SIZE)


def grabcut_splits(
    root: str | Path = GRABCUT_ROOT,
    hw: tuple[int, int] = GRABCUT_HW,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    limit: int | None = None,
) -> DatasetSplits:
    return split_data(load_grabcut(root, hw, limit), fractions, seed)


def run_splits(root: str | Path) -> DatasetSplits:
    """The labels a run or app project has acquired so far (``al_loop/data/run.py``)."""
    # imported here: reading a run's labels needs the store, and the store imports this package
    from al_loop.data.run import run_labels_splits

    return run_labels_splits(root, load_dataset)


DATASETS: dict[str, Callable[..., DatasetSplits]] = {
    "synthetic": synthetic_splits,
    "folder": folder_splits,
    "davis": davis_splits,
    "grabcut": grabcut_splits,
    "camvid": camvid_splits,
    "run": run_splits,
}


# --- parameter checks: config values arrive as YAML (lists, not tuples) -------------------------


def _int(key: str, value: Any, minimum: int | None = None, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (minimum is not None and value < minimum)
    ):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ConfigError(f"{key}: expected an integer{bound}, got {value!r}")
    return value


def _root(value: Any) -> Any:
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"root: expected a folder path, got {value!r}")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


PARAM_CHECKS: dict[str, Callable[[Any], Any]] = {
    "hw": as_hw,
    "fractions": check_fractions,
    "seed": lambda v: _int("seed", v),
    "num_images": lambda v: _int("num_images", v, minimum=1),
    "group_size": lambda v: _int("group_size", v, minimum=1, allow_none=True),
    "limit": lambda v: _int("limit", v, minimum=1, allow_none=True),
    "root": _root,
    "require_masks": lambda v: _bool("require_masks", v),
    "sequences": check_sequences,
}


def dataset_params(name: str) -> dict[str, inspect.Parameter]:
    if name not in DATASETS:
        raise ConfigError(f"dataset.name: unknown '{name}'; valid: {', '.join(sorted(DATASETS))}")
    return dict(inspect.signature(DATASETS[name]).parameters)


def check_dataset_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` checked (and normalised, e.g. lists to tuples) for dataset ``name``, without
    reading any data; ConfigError naming the key."""
    valid = dataset_params(name)
    checked = {}
    for key, value in params.items():
        if key not in valid:
            raise ConfigError(f"dataset.{key}: unknown key; valid: {', '.join(valid)}")
        try:
            checked[key] = PARAM_CHECKS[key](value) if key in PARAM_CHECKS else value
        except ConfigError as err:  # the checks name the key; add the section
            raise ConfigError(f"dataset.{err}") from err
    for key, param in valid.items():
        if param.default is inspect.Parameter.empty and key not in checked:
            raise ConfigError(f"dataset.{key}: required for dataset '{name}'")
    return checked


def load_dataset(name: str, **params: Any) -> DatasetSplits:
    """The splits of dataset ``name``; every param is checked and named in errors."""
    checked = check_dataset_params(name, params)
    valid = dataset_params(name)
    try:
        return DATASETS[name](**checked)
    except ConfigError as err:  # a loader's complaint about one param, e.g. "hw: ..."
        if str(err).split(":", 1)[0] in valid:
            raise ConfigError(f"dataset.{err}") from err
        raise


__all__ = [
    "BINARY_CLASSES",
    "CAMVID_CLASSES",
    "CAMVID_HW",
    "CAMVID_RARE_CLASSES",
    "CAMVID_ROOT",
    "DATASETS",
    "DAVIS_HW",
    "DAVIS_ROOT",
    "DAVIS_VIDEOS",
    "DEFAULT_FRACTIONS",
    "GRABCUT_HW",
    "GRABCUT_ROOT",
    "IGNORE",
    "SYNTHETIC_CLASSES",
    "SYNTHETIC_RARE_CLASS",
    "ClassInfo",
    "DatasetSplits",
    "Sample",
    "SegmentationData",
    "check_dataset_params",
    "dataset_params",
    "load_camvid",
    "load_dataset",
    "load_davis",
    "load_davis_samples",
    "load_folder",
    "load_grabcut",
    "load_grabcut_samples",
    "make_synthetic",
    "read_classes",
    "split_data",
    "write_folder",
]
