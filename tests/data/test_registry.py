"""Every dataset of the registry (``al_loop.data.DATASETS``), on tiny data: its params are
checked without reading anything, unknown ones are named, and it loads into disjoint,
deterministic splits of well-formed images and masks. The real-data ones are skipped when
their folder is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.paths import REPO_ROOT
from al_loop.data import (
    CAMVID_ROOT,
    DATASETS,
    DAVIS_ROOT,
    GRABCUT_ROOT,
    IGNORE,
    check_dataset_params,
    dataset_params,
    load_dataset,
    make_synthetic,
    write_folder,
)
from tests.data.test_run import write_run


def real_root(default: str) -> Path:
    """The code's default data folder, from the repository (as a run from the checkout)."""
    return (REPO_ROOT / default).resolve()


def tiny_params(name: str, folder: Path) -> dict:
    if name == "synthetic":
        return {"num_images": 12, "hw": [32, 32], "seed": 1}
    if name == "folder":
        root = write_folder(make_synthetic(12, (32, 32), seed=2), folder / "data")
        return {"root": str(root), "seed": 1}
    if name == "run":
        write_run(folder / "run")
        return {"root": str(folder / "run")}
    if name in ("davis", "grabcut"):
        root = real_root(DAVIS_ROOT if name == "davis" else GRABCUT_ROOT)
        if not root.is_dir():
            pytest.skip(f"{root}: real data not here")
        extra = {"group_size": 2} if name == "davis" else {}
        return {"root": str(root), "hw": [32, 48], "limit": 12, **extra}
    if name == "camvid":
        root = real_root(CAMVID_ROOT)
        if not root.is_dir():
            pytest.skip(f"{root}: real data not here")
        return {"root": str(root), "hw": [32, 48], "limit": 6}
    raise AssertionError(f"dataset '{name}' has no tiny params in this test: add them")


@pytest.fixture(params=sorted(DATASETS))
def case(request, tmp_path):
    return request.param, tiny_params(request.param, tmp_path)


def test_params_are_checked_without_loading_and_unknown_ones_are_named(case):
    name, params = case
    assert set(check_dataset_params(name, params)) == set(params)
    with pytest.raises(ConfigError) as err:
        check_dataset_params(name, {**params, "colour": 1})
    assert str(err.value).startswith("dataset.colour: unknown key; valid: ")
    assert all(key in str(err.value) for key in dataset_params(name))


def test_splits_are_disjoint_well_formed_and_deterministic(case):
    name, params = case
    splits = load_dataset(name, **params)
    parts = (splits.train, splits.val, splits.test)
    assert len(splits.train) > 0
    names = [n for part in parts for n in part.names]
    assert len(names) == len(set(names))  # no image in two splits
    num_classes = len(splits.classes)
    for part in parts:
        assert part.images.dtype == np.uint8 and part.images.shape[1:3] == splits.train.hw
        if part.masks is not None and len(part):
            values = set(np.unique(part.masks).tolist())
            assert values <= set(range(num_classes)) | {IGNORE}
    again = load_dataset(name, **params)
    for first, second in zip(parts, (again.train, again.val, again.test), strict=True):
        assert first.names == second.names and np.array_equal(first.images, second.images)
