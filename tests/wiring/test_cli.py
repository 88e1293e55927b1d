"""``al-loop run`` at the edge of its run directory (issue 15's reproductions, one test each):
one process per directory, nothing written before every check passed, one-line errors for bad
input, damaged state diagnosed and a lost checkpoint rebuilt to the same curve."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from al_loop.core.errors import ConfigError
from al_loop.core.experiment import Loop, repeatable_metrics
from al_loop.core.lock import lock_holder_pid
from al_loop.core.paths import REPO_ROOT
from al_loop.core.store import LabelStore
from al_loop.wiring.cli import main

# A real run (smp model, simulated clicks) of a few seconds: three rounds.
TINY = {
    "name": "tiny",
    "seed": 0,
    "threads": 1,
    "dataset": {"name": "synthetic", "params": {"num_images": 20, "hw": [32, 32]}},
    "units": {"kind": "grid", "cell": 16},
    "segmenter": {"epochs": 1, "batch_size": 4, "encoder_weights": None, "augment": False},
    "strategy": {"name": "entropy"},
    "annotation": {"method": "watershed_clicks", "max_interactions": 2},
    "budget": {"initial_seconds": 20, "round_seconds": 20, "total_seconds": 60},
    "full_supervision": {"enabled": False},
}
STATE_FILES = ("config.yaml", "store.sqlite")


def write_config(folder: Path, data: dict = TINY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_curve(run_dir: Path) -> list:
    with LabelStore(run_dir / "store.sqlite") as store:
        return [
            (r.round, r.status, r.seconds_total, repeatable_metrics(r.metrics))
            for r in store.rounds()
        ]


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in STATE_FILES}


def error_line(capsys) -> str:
    """The one line the command printed for its error (progress bars aside)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("al-loop:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("config"))


@pytest.fixture(scope="module")
def finished(config, tmp_path_factory) -> Path:
    """An uninterrupted run: the curve every recovery must repeat."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    assert main(["run", str(config), "--out", str(run_dir)]) == 0
    assert [r[:2] for r in run_curve(run_dir)] == [
        (0, "evaluated"),
        (1, "evaluated"),
        (2, "evaluated"),
    ]
    return run_dir


@pytest.fixture(scope="module")
def interrupted(config, tmp_path_factory) -> Path:
    """The same run stopped while round 2 trains: rounds 0-1 evaluated, round_001.pt saved."""
    run_dir = tmp_path_factory.mktemp("interrupted") / "run"
    train = Loop.train_and_evaluate

    def stop_at_round_2(self, round_index):
        if round_index == 2:
            raise KeyboardInterrupt
        train(self, round_index)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Loop, "train_and_evaluate", stop_at_round_2)
        assert main(["run", str(config), "--out", str(run_dir)]) == 130
    assert (run_dir / "checkpoints" / "round_001.pt").is_file()
    return run_dir


def copy_of(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


# -- 1. one process per run directory ------------------------------------------------------------
@pytest.mark.slow
def test_a_second_resume_at_once_is_refused_naming_the_holder_and_changes_nothing(
    config, interrupted, finished, tmp_path, capsys
):
    run_dir = copy_of(interrupted, tmp_path)
    argv = ["run", str(config), "--out", str(run_dir), "--resume"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    with open(tmp_path / "first.err", "w") as err:
        first = subprocess.Popen(
            [sys.executable, "-m", "al_loop.wiring.cli", *argv], env=env, stderr=err
        )
    try:
        deadline = time.monotonic() + 60
        while lock_holder_pid(run_dir) != first.pid:  # the first resume holds the directory
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # ...and keeps holding it while the second starts
        before = snapshot(run_dir)
        assert main(argv) == 2
        line = error_line(capsys)
        assert (
            f"{run_dir}: this run directory is in use by another process (pid {first.pid})" in line
        )
        assert snapshot(run_dir) == before
    finally:
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=120) == 0, (tmp_path / "first.err").read_text()
    assert run_curve(run_dir) == run_curve(finished)


# -- 2. a refused resume writes nothing ----------------------------------------------------------
def test_a_refused_resume_leaves_config_and_store_byte_for_byte(config, finished, tmp_path, capsys):
    run_dir = copy_of(finished, tmp_path)
    before = snapshot(run_dir)
    argv = ["run", str(config), "--out", str(run_dir), "--resume"]
    assert main([*argv, "--set", "dataset.params.seed=5"]) == 2
    line = error_line(capsys)
    assert "store.sqlite: holds a run with another config (differs at dataset.params.seed)" in line
    assert snapshot(run_dir) == before
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["dataset"]["params"] == {
        "num_images": 20,
        "hw": [32, 32],
    }
    assert main(["run", str(config), "--out", str(run_dir)]) == 2  # no --resume
    assert "a run is stored here already" in error_line(capsys)
    assert snapshot(run_dir) == before


# -- 3. nothing is written before every check passed ---------------------------------------------
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("strategy.name=entropyy", "strategy.name"),
        ("strategy.params={bogus: 1}", "strategy.params"),
        ("segmenter.arch=Unett", "Unett"),
        ("segmenter.encoder=resnet_nope", "resnet_nope"),
        ("segmenter.encoder_weights=nope", "encoder_weights"),
        ("annotation.method=watershed_clickz", "annotation.method"),
        ("units.kind=cells", "units.kind"),
    ],
)
def test_a_bad_name_or_parameter_fails_before_anything_is_written(
    config, tmp_path, capsys, monkeypatch, override, key
):
    trained = []
    monkeypatch.setattr(Loop, "train_and_evaluate", lambda self, r: trained.append(r))
    run_dir = tmp_path / "run"
    assert main(["run", str(config), "--out", str(run_dir), "--set", override]) == 2
    assert key in error_line(capsys)
    assert not run_dir.exists() and not trained


@pytest.mark.parametrize(
    "strategy", ["strategy.name=bald", "strategy={name: cost_aware, params: {base: bald}}"]
)
def test_bald_without_dropout_fails_before_round_0(config, tmp_path, capsys, monkeypatch, strategy):
    import al_loop.wiring.build as build

    loaded = []
    monkeypatch.setattr(build, "load_splits", lambda c: loaded.append(c))
    run_dir = tmp_path / "run"
    argv = ["run", str(config), "--out", str(run_dir), "--set", strategy]
    assert main(argv) == 2
    assert "segmenter.dropout: strategy" in error_line(capsys)
    assert not run_dir.exists() and not loaded  # before the data is even generated


def test_a_refused_run_is_then_accepted_once_corrected(config, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["run", str(config), "--out", str(run_dir), "--set", "strategy.name=entropyy"]) == 2
    assert (
        main(["run", str(config), "--out", str(run_dir), "--set", "budget.total_seconds=20"]) == 0
    )


# -- 4. bad config input: one line, exit 2 -------------------------------------------------------
def test_a_value_that_is_not_yaml_names_the_key(config, tmp_path, capsys):
    assert (
        main(
            ["run", str(config), "--out", str(tmp_path / "r"), "--set", "budget.total_seconds=[1,"]
        )
        == 2
    )
    line = error_line(capsys)
    assert "--set budget.total_seconds: the value '[1,' is not valid YAML" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xff", "not a UTF-8 text file"),
        (b"name: x\x00", "not valid YAML"),
        (b"name: [1,\n", "not valid YAML (expected"),
        (b"- 1\n- 2\n", "the top level must be a mapping"),
    ],
)
def test_an_unreadable_config_file_is_one_line_naming_it(tmp_path, capsys, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    assert main(["run", str(path), "--out", str(tmp_path / "r")]) == 2
    line = error_line(capsys)
    assert f"{path}: {message}" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("device", ["banana", "cuda0", "gpu", "cuda:x"])
def test_a_misspelt_device_is_one_line(config, tmp_path, capsys, device):
    assert (
        main(["run", str(config), "--out", str(tmp_path / "r"), "--set", f"device={device}"]) == 2
    )
    line = error_line(capsys)
    assert f"device: '{device}' is not a torch device; valid: cpu, cuda, cuda:N" in line


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_a_device_the_machine_lacks_is_one_line_before_anything_runs(
    config, tmp_path, capsys, monkeypatch, device
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert (
        main(["run", str(config), "--out", str(tmp_path / "r"), "--set", f"device={device}"]) == 2
    )
    line = error_line(capsys)
    assert f"device: '{device}' is not available on this machine" in line
    assert not (tmp_path / "r").exists()


def test_debug_shows_the_traceback_and_other_errors_are_one_line_too(
    config, tmp_path, capsys, monkeypatch
):
    argv = ["run", str(config), "--out", str(tmp_path / "r"), "--set", "device=banana"]
    with pytest.raises(ConfigError, match="device"):
        main(["--debug", *argv])
    with pytest.raises(ConfigError, match="device"):
        main([*argv, "--debug"])
    import al_loop.wiring.build as build

    def bug(*args, **kwargs):
        raise ValueError("an unexpected\nproblem")

    monkeypatch.setattr(build, "run_experiment", bug)
    assert main(["run", str(config), "--out", str(tmp_path / "r")]) == 1
    assert error_line(capsys) == (
        "al-loop: error: ValueError: an unexpected problem (--debug shows the traceback)"
    )


# -- 5. damaged or missing state -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda good: b"", "store.sqlite: empty file (0 bytes), not a label store"),
        (lambda good: b"\x13garbage" * 999, "store.sqlite: damaged or not a label store"),
        (lambda good: good[: len(good) // 3], "store.sqlite: damaged or not a label store"),
    ],
    ids=["empty", "overwritten", "truncated"],
)
def test_a_damaged_store_is_named_never_reset(config, finished, tmp_path, capsys, damage, message):
    run_dir = copy_of(finished, tmp_path)
    store = run_dir / "store.sqlite"
    store.write_bytes(damage(store.read_bytes()))
    before = snapshot(run_dir)
    assert main(["run", str(config), "--out", str(run_dir), "--resume"]) == 2
    line = error_line(capsys)
    assert message in line and "backup" in line
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_a_lost_checkpoint_is_rebuilt_and_the_resumed_curve_is_the_uninterrupted_one(
    config, interrupted, finished, tmp_path, capsys, damage
):
    run_dir = copy_of(interrupted, tmp_path)
    checkpoint = run_dir / "checkpoints" / "round_001.pt"
    if damage == "deleted":
        checkpoint.unlink()
    else:
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    assert main(["run", str(config), "--out", str(run_dir), "--resume"]) == 0
    out = capsys.readouterr().out  # the run's log lines
    problem = "missing" if damage == "deleted" else "unreadable (RuntimeError: PytorchStreamReader"
    assert f"warning: {checkpoint} {problem}" in out
    assert "rebuilding it from the store (retraining rounds 0-1" in out
    assert run_curve(run_dir) == run_curve(finished)


def test_a_full_disk_stops_in_one_line_with_the_store_intact_and_resume_repeats_the_curve(
    config, finished, tmp_path, capsys, monkeypatch
):
    run_dir = tmp_path / "run"
    save = torch.save

    def full_at_round_1(obj, path, *args, **kwargs):
        if "round_001" in str(path):
            raise RuntimeError(
                "[enforce fail at inline_container.cc:603] . unexpected pos 1088 vs 1000"
            )
        save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_at_round_1)
    assert main(["run", str(config), "--out", str(run_dir)]) == 2
    line = error_line(capsys)
    assert "round_001.pt: could not be written ([enforce fail" in line
    assert "free some space" in line
    assert [r[:2] for r in run_curve(run_dir)] == [(0, "evaluated"), (1, "annotated")]
    monkeypatch.setattr(torch, "save", save)
    assert main(["run", str(config), "--out", str(run_dir), "--resume"]) == 0
    assert run_curve(run_dir) == run_curve(finished)


def test_a_full_disk_before_the_first_write_leaves_a_fresh_start(
    config, tmp_path, capsys, monkeypatch
):
    import errno

    run_dir = tmp_path / "run"
    write_text = Path.write_text

    def full(self, *args, **kwargs):
        if self.name == ".config.yaml.tmp":
            write_text(self, "partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    assert main(["run", str(config), "--out", str(run_dir)]) == 2
    line = error_line(capsys)
    assert "config.yaml: could not be written (No space left on device)" in line
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.lock"]
    monkeypatch.setattr(Path, "write_text", write_text)
    short = ["--set", "budget.total_seconds=20"]
    assert main(["run", str(config), "--out", str(run_dir), *short]) == 0  # not "stored already"


def test_a_demo_strategy_typo_fails_before_the_data_and_the_reference(
    tmp_path, capsys, monkeypatch
):
    import al_loop.wiring.build as build

    loaded = []
    monkeypatch.setattr(build, "load_splits", lambda c: loaded.append(c))
    argv = ["demo", "--out", str(tmp_path / "demo"), "--strategies", "random", "entropyy"]
    assert main(argv) == 2
    assert "strategy.name: unknown 'entropyy'" in error_line(capsys)
    assert not loaded and not (tmp_path / "demo").exists()


# -- costs measured from a person price a simulated run -----------------------------------------
@pytest.mark.slow
def test_costs_measured_in_an_app_project_price_a_simulated_run(tmp_path, capsys):
    import numpy as np

    from al_loop.core.cost import CostTable
    from app import session as drafts
    from app.project import Project
    from tests.app.helpers import make_project

    project_dir = make_project(tmp_path)
    mask = np.zeros((64, 64), bool)
    mask[8:24, 8:24] = True
    with Project(project_dir) as project:
        for k in range(3):  # three units, each a first click (4 s) and a further one (1.5 s)
            queued = project.lease("tab")
            draft = drafts.new_draft("watershed_clicks", 1, now=100.0 * k)
            drafts.add_point(draft, 10, 10, now=100.0 * k + 4.0)
            drafts.add_point(draft, 12, 12, now=100.0 * k + 5.5)
            log = drafts.interaction_log(draft)
            project.accept(queued, [(1, mask)], 5.5, log, "watershed_clicks", "person:tab")
    out = tmp_path / "measured.yaml"
    assert main(["costs", str(project_dir), "--out", str(out)]) == 0
    assert "| first click on an object | click_first | 4.00 | 4.00-4.00 | 3 | 2.4 |" in (
        capsys.readouterr().out
    )
    measured = CostTable.load(out)
    assert (measured["click_first"], measured["click_further"]) == (4.0, 1.5)

    budget = {"initial_seconds": 20, "round_seconds": 20, "total_seconds": 20}
    annotation = {**TINY["annotation"], "costs": str(out)}
    config = write_config(tmp_path / "cfg", {**TINY, "annotation": annotation, "budget": budget})
    run_dir = tmp_path / "run"
    assert main(["run", str(config), "--out", str(run_dir)]) == 0
    with LabelStore(run_dir / "store.sqlite") as store:
        logs = [a["interactions"] for a in store.annotation_logs()]
    clicks = 0
    for log in logs:
        for index in {e["object"] for e in log if e["object"] >= 0}:
            entries = [e for e in log if e["object"] == index]
            clicks += sum(e["type"] == "Click" for e in entries)
            own = entries[0]["seconds"] - measured.seconds(entries, "watershed_clicks")
            assert own == pytest.approx(0.0) or own == pytest.approx(measured["choose_class"])
    assert clicks > 0  # the run's clicks were priced at this person's 4 s and 1.5 s
    from al_loop.reports.runs import load_run

    stored = load_run(run_dir).costs  # what the report sets beside the literature
    assert stored["origin"] == str(out) and stored["entries"]["click_first"]["seconds"] == 4.0


@pytest.mark.parametrize(
    "params",
    [{"features": "segmenter_maps"}, {"features": "segmenter_probs", "purity_by": "pixels"}],
)
def test_feature_space_with_the_loops_segmenter_runs_and_repeats_its_curve(tmp_path, params):
    """The box-labeller projecting units by the maps (or class probabilities) of the
    segmenter the loop trains: every round labels, and the same seed gives the same curve
    (the features are the trained model's)."""
    data = {
        **TINY,
        "annotation": {
            "method": "feature_space",
            "params": {**params, "projection": "pca", "units_per_call": 20},
        },
    }
    config = write_config(tmp_path, data)
    curves = []
    for run in ("a", "b"):
        assert main(["run", str(config), "--out", str(tmp_path / run)]) == 0
        curves.append(run_curve(tmp_path / run))
    assert [r[:2] for r in curves[0]] == [(k, "evaluated") for k in range(3)]
    assert 0 < curves[0][0][2] < curves[0][-1][2]  # seconds labelled grow round by round
    assert curves[0] == curves[1]
