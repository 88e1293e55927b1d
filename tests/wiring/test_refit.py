"""`al-loop refit`: a run's labels trained like its reference, stored for the report."""

import json
from pathlib import Path

import numpy as np
import pytest

from al_loop.core.errors import DataError, RunDirError
from al_loop.core.lock import DirectoryLock
from al_loop.core.store import POOL_IMAGES_META, REFIT_META, STORE_FILE, LabelStore
from al_loop.data.base import IGNORE
from al_loop.reports.runs import load_run
from al_loop.reports.stats import format_group_rows, group_rows
from al_loop.wiring import refit as refit_module
from al_loop.wiring.cli import main
from al_loop.wiring.refit import CHECKPOINT_FILE, refit_run, stored_refit
from tests.wiring.test_cli import TINY, error_line, write_config

# the reference's recipe of the tiny run: at least 1 epoch, then until val stops improving
RECIPE = {"enabled": False, "epochs": 1, "patience": 1, "max_epochs": 3}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    config = write_config(tmp_path_factory.mktemp("config"), {**TINY, "full_supervision": RECIPE})
    run_dir = tmp_path_factory.mktemp("runs") / "run"
    assert main(["run", str(config), "--out", str(run_dir)]) == 0
    return run_dir


def test_refit_stores_the_final_labels_trained_like_the_reference(finished, capsys):
    assert main(["refit", str(finished)]) == 0
    captured = capsys.readouterr()
    assert f"refit {finished}: val mIoU" in captured.out + captured.err
    result = stored_refit(finished)
    with LabelStore(finished / STORE_FILE, read_only=True) as store:
        last = [r for r in store.rounds() if r.status == "evaluated"][-1]
        labels = store.label_maps(20, (32, 32))
        pool_images = int(store.get_meta(POOL_IMAGES_META))
    assert result["seconds_total"] == pytest.approx(last.seconds_total)
    # the pool images with any labelled pixel (the synthetic pool is 20 images' train split)
    assert 0 < result["labelled_images"] == int((labels != IGNORE).any(axis=(1, 2)).sum())
    assert 0.0 <= result["miou"] <= 1.0
    # capped in epochs of the whole pool, as the reference was (the spacing of its evaluations:
    # tests/models/test_plateau.py)
    assert result["pool_images"] == pool_images >= result["labelled_images"]
    stretch = max(1, round(pool_images / result["labelled_images"]))
    assert 1 <= result["epochs"] <= RECIPE["max_epochs"] * stretch
    assert not (finished / CHECKPOINT_FILE).exists()  # the checkpoint goes once stored
    assert load_run(finished).refit == result


def test_a_refit_of_the_same_labels_is_kept_and_forced_refits_repeat_it(finished, monkeypatch):
    first, _ = refit_run(finished)

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained again although the labels did not change")

    with monkeypatch.context() as patch:
        patch.setattr(refit_module, "full_supervision_reference", must_not_train)
        kept, computed = refit_run(finished)
    assert not computed and kept == first
    again, computed = refit_run(finished, force=True)
    assert computed and again["miou"] == first["miou"]  # deterministic on CPU


def test_a_run_in_use_is_refused_in_one_line_and_keeps_its_store(finished, capsys):
    before = (finished / STORE_FILE).read_bytes()
    with DirectoryLock(finished):
        with pytest.raises(RunDirError, match="in use by"):
            refit_run(finished, force=True)
        assert main(["refit", str(finished), "--force"]) == 2
    assert "in use by" in error_line(capsys)
    assert (finished / STORE_FILE).read_bytes() == before


def test_a_folder_without_a_run_config_is_named(tmp_path):
    (tmp_path / STORE_FILE).write_bytes(b"")
    with pytest.raises(DataError, match=r"config\.yaml: not found"):
        refit_run(tmp_path)


def test_the_report_reads_refits_when_every_seed_has_one(tmp_path):
    from tests.reports.test_report import make_run

    runs = [
        make_run(tmp_path / f"r{seed}", [0.5, 0.6], [10, 10], seed=seed, full=0.8)
        for seed in (0, 1)
    ]
    (row,) = group_rows(runs)
    assert "final_refit_mean" not in row  # no refit yet: no column
    for run, value in zip(runs, (0.70, 0.74), strict=True):
        with LabelStore(run.path / STORE_FILE) as store:
            store.set_meta(REFIT_META, json.dumps({"miou": value, "seconds_total": 20.0}))
    (row,) = group_rows([load_run(run.path) for run in runs])
    assert row["final_refit_mean"] == pytest.approx(0.72)
    assert row["final_refit_std"] == pytest.approx(np.std([0.70, 0.74], ddof=1))
    assert row["pct_full_refit_mean"] == pytest.approx(90.0)  # 0.72 of 0.8
    text = format_group_rows([row])[0]
    assert text["final_refit"] == "0.720 ± 0.028" and text["pct_full_refit"] == "90.0 ± 3.5 %"
    # one seed without a refit: the group shows none rather than a mean of some seeds
    with LabelStore(runs[1].path / STORE_FILE) as store:
        store.set_meta(REFIT_META, "null")
    (row,) = group_rows([load_run(run.path) for run in runs])
    assert "final_refit_mean" not in row
