import numpy as np
import pytest
import yaml

from al_loop.core.errors import DataError
from al_loop.core.protocols import UnitAnnotation
from al_loop.core.store import STORE_FILE, LabelStore
from al_loop.core.units import Unit
from al_loop.data import load_dataset
from al_loop.data.base import IGNORE

DATASET = {"name": "synthetic", "params": {"num_images": 10, "hw": [32, 32], "seed": 3}}


def annotation(unit: Unit, box, value: int) -> UnitAnnotation:
    y0, x0, y1, x1 = box
    mask = np.full((y1 - y0, x1 - x0), value, np.uint8)
    return UnitAnnotation(unit, box, mask, 4.0, [], "watershed_clicks", "simulated:click")


def write_run(run_dir, config_name="config.yaml", dataset=DATASET, hold_out_second=False):
    """A run directory whose store labelled an 8x8 corner of pool image 1 (class 2) and, in a
    held-out check unit, a corner of pool image 3."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / config_name).write_text(yaml.safe_dump({"dataset": dataset}))
    params = dict(dataset["params"])
    if "root" in params:
        params["root"] = str(run_dir / params["root"])
    pool = load_dataset(dataset["name"], **params).train
    with LabelStore(run_dir / STORE_FILE) as store:
        store.start_round(0, "random", 10.0, [Unit(1, 0), Unit(3, 0)], pool.names)
        first, second = store.queued(0)
        store.add_annotation(first.id, 0, annotation(Unit(1, 0), (0, 0, 8, 8), 2))
        if hold_out_second:
            store.hold_out([second.id])
            store.add_annotation(second.id, 0, annotation(Unit(3, 0), (0, 0, 4, 4), 1))
    return pool


def test_a_run_trains_on_its_labelled_pixels_only(tmp_path):
    pool = write_run(tmp_path / "run", hold_out_second=True)
    splits = load_dataset("run", root=str(tmp_path / "run"))
    full = load_dataset(DATASET["name"], **DATASET["params"])
    (image,) = splits.train.images  # image 3's labels are the check set's: not for training
    assert np.array_equal(image, pool.images[1]) and splits.train.names == [pool.names[1]]
    (mask,) = splits.train.masks
    assert (mask[:8, :8] == 2).all()
    assert (
        np.delete(mask.ravel(), np.ravel_multi_index(np.mgrid[:8, :8], mask.shape)) == IGNORE
    ).all()
    assert np.array_equal(splits.val.images, full.val.images)
    assert np.array_equal(splits.val.masks, full.val.masks)


def test_an_app_project_resolves_its_data_folder_inside_itself(tmp_path):
    from al_loop.data import write_folder

    source = load_dataset(DATASET["name"], **DATASET["params"])
    write_folder(source.train, tmp_path / "project" / "data")
    dataset = {"name": "folder", "params": {"root": "data"}}  # relative, as the app writes it
    pool = write_run(tmp_path / "project", "project.yaml", dataset)
    splits = load_dataset("run", root=str(tmp_path / "project"))
    assert splits.train.names == [pool.names[1]]


def test_not_a_run_or_nothing_labelled_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path}: not a run directory"):
        load_dataset("run", root=str(tmp_path))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"dataset": DATASET}))
    LabelStore(tmp_path / STORE_FILE).close()
    with pytest.raises(DataError, match="no labelled pixel yet"):
        load_dataset("run", root=str(tmp_path))
