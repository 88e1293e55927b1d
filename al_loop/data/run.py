"""The labels a run has acquired so far, as a dataset: train on what was labelled.

``root`` is a run directory (``al-loop run`` / ``sweep``: ``config.yaml`` + ``store.sqlite``) or
an app project (``project.yaml`` + ``store.sqlite``). ``train`` is the run's pool images with at
least one labelled pixel, their masks the store's labels (IGNORE where nothing was labelled, and
the check set's labels left out); ``val`` and ``test`` are the run's own splits. This is how
a learned interactive model retrains on a run's annotations, as in a seed pipeline where the
interactive model improves as annotated images accumulate:

    al-loop train-interactive configs/interactive_run.yaml --set dataset.params.root=runs/NAME
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from al_loop.core.config import DatasetConfig, parse_config, read_yaml_mapping
from al_loop.core.errors import DataError
from al_loop.core.store import STORE_FILE, LabelStore
from al_loop.data.base import IGNORE, DatasetSplits

DatasetLoader = Callable[..., DatasetSplits]

RUN_CONFIG = "config.yaml"  # written by al-loop run
PROJECT_CONFIG = "project.yaml"  # written by al-loop app (its dataset root is inside the project)


def run_dataset_config(root: str | Path) -> DatasetConfig:
    """The data set a run directory or app project labels (its config's ``dataset``)."""
    root = Path(root)
    store_path = root / STORE_FILE
    config_path = next(
        (root / name for name in (RUN_CONFIG, PROJECT_CONFIG) if (root / name).is_file()), None
    )
    if config_path is None or not store_path.is_file():
        raise DataError(
            f"{root}: not a run directory or app project (needs {STORE_FILE} and "
            f"{RUN_CONFIG} or {PROJECT_CONFIG})"
        )
    data = read_yaml_mapping(config_path)
    params = dict(data.get("dataset", {}).get("params", {}))
    if config_path.name == PROJECT_CONFIG and "root" in params:
        params["root"] = str(root / params["root"])
    data["dataset"] = {**data.get("dataset", {}), "params": params}
    return parse_config(data, str(config_path)).dataset


def run_labels_splits(root: str | Path, load_dataset: DatasetLoader) -> DatasetSplits:
    """``load_dataset``: the registry's loader, for the run's own dataset (passed in: the
    registry lists this module's dataset)."""
    store_path = Path(root) / STORE_FILE
    dataset = run_dataset_config(root)
    splits = load_dataset(dataset.name, **dataset.params)
    pool = splits.train
    with LabelStore(store_path, read_only=True) as store:
        labels = store.label_maps(len(pool), pool.hw)
    labelled = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
    if labelled.size == 0:
        raise DataError(f"{store_path}: no labelled pixel yet")
    train = replace(
        pool.subset(labelled), masks=labels[labelled], source=f"{store_path} (labels so far)"
    )
    return DatasetSplits(train, splits.val, splits.test)
