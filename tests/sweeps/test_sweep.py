"""Sweeps: grid expansion, naming, resume after a kill, failure isolation, deadline, Ray, and a
sweep run equal to the same config run alone.

This module doubles as a fast fake backend (``BACKEND``): the loop with the fake parts of
tests/fakes.py, wired from the run's config the way al_loop.wiring.build wires the real ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from filelock import FileLock

from al_loop.core.config import merge
from al_loop.core.errors import ConfigError
from al_loop.core.experiment import Budget, Loop, repeatable_metrics
from al_loop.core.paths import CONFIG_DIR, REPO_ROOT
from al_loop.core.store import LabelStore
from al_loop.core.units import GridUnits
from al_loop.sweeps.execute import (
    LOCK_FILE,
    config_hash,
    earlier_reference_keys,
    execute_run,
    read_status,
)
from al_loop.sweeps.schedule import (
    interleave_by_reference,
    make_jobs,
    may_start,
    parse_duration,
    run_sweep,
    select_runs,
)
from al_loop.sweeps.sweep import (
    SweepSpec,
    expand_runs,
    format_value,
    load_sweep,
    parse_run_name,
    parse_value,
    run_name,
    short_keys,
)
from strategies import make_strategy
from tests.fakes import CentroidSegmenter, OracleAnnotator, make_toy_data

BACKEND = "tests.sweeps.test_sweep"
KILL_ENV = "AL_LOOP_TEST_KILL"  # "<run name>:<annotations>": SIGKILL that run mid-way
BASE = {
    "seed": 0,
    "dataset": {"name": "synthetic", "params": {"num_images": 10}},
    "budget": {"initial_seconds": 10, "round_seconds": 12, "total_seconds": 34},
    "annotation": {"method": "oracle"},
}


# -- the fake backend (al_loop.sweeps.execute.Backend) -------------------------------------------------
def load_splits(config):
    return SimpleNamespace(train=make_toy_data(6), val=make_toy_data(3, seed=99))


def full_supervision_reference(config, splits, checkpoint=None):
    segmenter = CentroidSegmenter()
    segmenter.reset(config.seed)
    segmenter.fit(splits.train.images, splits.train.masks, seed=config.seed)
    return segmenter.evaluate(splits.val)


class _Killer(OracleAnnotator):
    def __init__(self, masks, kill_after: int):
        super().__init__(masks)
        self.kill_after = kill_after

    def annotate(self, *args, **kwargs):
        if self.calls == self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-run, no cleanup at all
        return super().annotate(*args, **kwargs)


def run_experiment(config, run_dir, resume=False, log=print, splits=None, reference=None):
    run_dir = Path(run_dir)
    with open(run_dir / "backend_calls.txt", "a") as f:
        f.write("call\n")
    if config.annotation.method == "explode":
        raise RuntimeError("the method exploded")
    pool = splits.train
    annotator = OracleAnnotator(pool.masks)
    victim, _, after = os.environ.get(KILL_ENV, "").partition(":")
    if victim == run_dir.name:
        annotator = _Killer(pool.masks, int(after))
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    with LabelStore(run_dir / "store.sqlite") as store:
        store.bind_config(config.to_dict())
        store.set_meta("classes", json.dumps([c.name for c in pool.classes]))
        if reference is not None and store.get_meta("full_supervision") is None:
            store.set_meta("full_supervision", json.dumps(reference))
        b = config.budget
        return Loop(
            pool=pool,
            val=splits.val,
            unit_space=GridUnits(len(pool), pool.hw, cell=16),
            segmenter=CentroidSegmenter(),
            seed_strategy=make_strategy("random"),
            strategy=make_strategy(config.strategy.name),
            annotator=annotator,
            store=store,
            checkpoint_dir=run_dir / "checkpoints",
            budget=Budget(b.initial_seconds, b.round_seconds, b.total_seconds),
            seed=config.seed,
            log=log,
        ).run()


# -- helpers ----------------------------------------------------------------------------------
def write_sweep(folder: Path, grid: dict, **extra) -> Path:
    path = folder / "sweep.yaml"
    data = {"name": "t", "base": BASE, "grid": grid, **extra}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_state(run_dir: Path) -> tuple:
    """A run's whole result: every round and every annotation, in order."""
    with LabelStore(run_dir / "store.sqlite") as store:
        rounds = [
            (r.round, r.strategy, r.n_annotated, r.seconds_total, repeatable_metrics(r.metrics))
            for r in store.rounds()
        ]
        chosen = [(a["round"], a["image"], a["region"], a["seconds"]) for a in store.annotations()]
        return rounds, chosen, store.get_meta("full_supervision")


def calls(run_dir: Path) -> int:
    path = run_dir / "backend_calls.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


GRID = {"strategy.name": ["random", "entropy"], "seed": [0, 1]}


# -- durations, names, expansion --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("8h", 28800),
        ("30m", 1800),
        ("90s", 90),
        ("90", 90),
        ("1h30m", 5400),
        ("2d", 172800),
        ("0.5h", 1800),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "8x", "h", "1h 30", "-1h", "1.2.3m"])
def test_parse_duration_rejects_garbage(text):
    with pytest.raises(ConfigError, match="--deadline"):
        parse_duration(text)


def test_short_keys_and_values():
    keys = [
        "strategy.name",
        "annotation.method",
        "seed",
        "dataset.params.seed",
        "budget.total_seconds",
    ]
    assert short_keys(keys) == {
        "strategy.name": "strategy",
        "annotation.method": "method",
        "seed": "seed",  # collides with dataset.params.seed: both keep their full key
        "dataset.params.seed": "dataset.params.seed",
        "budget.total_seconds": "total_seconds",
    }
    assert [
        format_value(v) for v in [0.001, 600.0, [64, 64], True, None, "../data/DAVIS", "a b/c", -1]
    ] == ["0.001", "600", "64x64", "true", "none", "..%2Fdata%2FDAVIS", "a%20b%2Fc", "-1"]
    labels = short_keys(["strategy.name", "seed"])
    assert run_name({"strategy.name": "entropy", "seed": 3}, labels) == "strategy=entropy,seed=3"
    assert run_name({}, {}) == "base"
    long = run_name({"strategy.name": "x" * 300}, labels)
    assert len(long) == 150 and long != run_name({"strategy.name": "x" * 299 + "y"}, labels)


# Values a grid may hold, chosen to break a naive encoding: signs, exponents, separators,
# strings that read as other types, escapes, nesting.
AWKWARD_VALUES = [
    1, -1, 0, 1.5, -0.25, 1e-05, 1e20, 0.1 + 0.2, True, False, None,
    "entropy", "lite0-imagenet", "a,b", "a/b", "../data/DAVIS", "a=b", "a b", "50%", "",
    "-1", "1e5", "true", "none", "64x64", "~x", "%2F", "a@b", "a+b", "é",
    [64, 64], [-1, 2.5], ["a", "b"], [64], [], [[1, 2], 3],
    {"purity": 0.9, "max_wrong": 5}, {"kind": "superpixel", "hw": [32, 32]}, {"a": {"b": -1}},
    {"a,b": "c=d"}, {},
    {"name": "random"}, {"name": "entropy", "params": {"class_balance": True}}, {"name": 3},
    {"params": {"x": 1}, "name": "e"}, {"name": {"name": "x"}}, "random+", {"a": "b+"},
]  # fmt: skip


@pytest.mark.parametrize("value", AWKWARD_VALUES, ids=repr)
def test_a_value_token_reads_back_as_the_value_and_is_file_name_safe(value):
    token = format_value(value)
    assert parse_value(token) == value and type(parse_value(token)) is type(value)
    assert not set(token) & set(',=/\\:*?"<>| ') and not token.startswith("~~")


def test_distinct_values_get_distinct_tokens():
    tokens = [format_value(v) for v in AWKWARD_VALUES]
    assert len(set(tokens)) == len(tokens)


def test_a_run_name_reads_back_as_its_params():
    keys = ["strategy.name", "segmenter.epochs", "annotation.params", "dataset.params.root"]
    labels = short_keys(keys)
    for values in zip(
        ["a,b", "entropy", "x/y", "none"],
        [1, -1, 0.5, None],
        [{"w": "m/w.pt"}, {}, {"purity": -0.5}, {"k": [1, 2]}],
        ["../d", "d,e=f", "", "-"],
        strict=True,
    ):
        params = dict(zip(keys, values, strict=True))
        assert parse_run_name(run_name(params, labels), labels) == params
    assert parse_run_name("base", labels) == {}
    with pytest.raises(ConfigError, match="not a run name"):
        parse_run_name("epochs=1,colour=red", labels)
    shortened = run_name({"strategy.name": "x" * 300}, labels)
    with pytest.raises(ConfigError, match="shortened"):
        parse_run_name(shortened, labels)


def test_a_grid_of_negative_and_positive_values_names_every_run_apart():
    runs = expand_runs(
        SweepSpec(grid={"seed": [1, -1], "annotation.params.shift": [0.5, -0.5]}), BASE, "sw"
    )
    assert [r.name for r in runs[:2]] == ["seed=1,shift=0.5", "seed=1,shift=-0.5"]
    assert len({r.name for r in runs}) == 4
    # epochs -1 is now reported as the invalid value it is, not as a name clash with epochs 1
    with pytest.raises(ConfigError, match=r"run 'epochs=-1'.*segmenter.epochs"):
        expand_runs(SweepSpec(grid={"segmenter.epochs": [1, -1]}), BASE, "sw")


def test_grid_expands_in_order_with_includes_and_common_overrides():
    spec = SweepSpec(
        base="ignored",
        overrides={"budget.total_seconds": 58},
        grid={
            "strategy.name": ["random", "entropy"],
            "annotation.method": ["a", "b"],
            "seed": [0, 1],
        },
        include=[{"strategy.name": "margin", "seed": 7}],
    )
    runs = expand_runs(spec, BASE, "sw")
    assert len(runs) == 2 * 2 * 2 + 1
    assert [r.name for r in runs[:3]] == [
        "strategy=random,method=a,seed=0",
        "strategy=random,method=a,seed=1",
        "strategy=random,method=b,seed=0",
    ]
    assert runs[-1].name == "strategy=margin,seed=7"
    last = runs[-1].config
    assert (last.strategy.name, last.seed, last.annotation.method) == ("margin", 7, "oracle")
    assert all(r.config.budget.total_seconds == 58 and r.config.threads == 1 for r in runs)
    assert all(r.config.budget.initial_seconds == 10 for r in runs)  # the base still applies
    assert runs[5].config.name == "sw/" + runs[5].name


def test_threads_come_from_the_sweep_unless_a_run_sets_them():
    runs = expand_runs(SweepSpec(threads=2, grid={"threads": [None, 1]}), BASE, "sw")
    assert [r.config.threads for r in runs] == [None, 1]
    (run,) = expand_runs(SweepSpec(threads=2), BASE, "sw")
    assert run.name == "base" and run.config.threads == 2


def test_invalid_runs_fail_before_anything_runs():
    with pytest.raises(ConfigError, match=r"run 'budgte=1'.*budgte: unknown key"):
        expand_runs(SweepSpec(grid={"budgte": [1]}), BASE, "sw")
    with pytest.raises(ConfigError, match="same name"):
        expand_runs(SweepSpec(grid={"seed": [1]}, include=[{"seed": 1}]), BASE, "sw")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"grid": {"seed": []}}, "has no values"),
        ({"grid": {"seed": 3}}, "grid.seed"),
        ({"gird": {}}, "gird: unknown key"),
        ({"base": "nowhere.yaml"}, "'nowhere.yaml' not found"),
    ],
)
def test_bad_sweep_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError, match=message):
        load_sweep(path)


@pytest.mark.parametrize("name", ["sweep_demo.yaml", "sweep_davis.yaml"])
def test_shipped_sweeps_expand(name):
    sweep = load_sweep(CONFIG_DIR / name)
    assert len(sweep.runs) >= 8 and all(r.config.threads == 1 for r in sweep.runs)
    assert len({r.name for r in sweep.runs}) == len(sweep.runs)


def test_jobs_interleave_their_full_supervision_references(tmp_path):
    sweep = load_sweep(
        write_sweep(tmp_path, {"seed": [0, 1], "strategy.name": ["random", "entropy"]})
    )
    jobs = interleave_by_reference(make_jobs(sweep, tmp_path))
    assert [j.config["seed"] for j in jobs] == [0, 1, 0, 1]


def test_may_start_keeps_room_for_a_typical_run():
    assert may_start(100.0, None, [1e9])
    assert may_start(100.0, 200.0, [])
    assert may_start(100.0, 200.0, [50.0, 60.0, 500.0])  # median 60 ends before 200
    assert not may_start(100.0, 200.0, [50.0, 150.0, 500.0])
    assert not may_start(200.0, 200.0, [])


# -- running ----------------------------------------------------------------------------------
def test_a_sweep_runs_every_combination_and_a_rerun_skips_them(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, GRID))
    events = []
    summary = run_sweep(sweep, tmp_path / "out", notify=events.append, backend=BACKEND)
    assert summary.count("done") == 4 and not summary.failed
    assert [e.state for e in events] == ["started", "done"] * 4
    for run in sweep.runs:
        run_dir = tmp_path / "out" / run.name
        status = read_status(run_dir)
        assert (status["state"], status["attempts"], status["params"]) == ("done", 1, run.params)
        assert status["rounds"] == 3 and 34 <= status["seconds_total"] < 40
        assert json.loads(run_state(run_dir)[2])["miou"] > 0  # shared reference stored
    assert len(list((tmp_path / "out" / "references").glob("*.json"))) == 2  # one per seed
    manifest = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [r["name"] for r in manifest["runs"]] == [r.name for r in sweep.runs]

    again = run_sweep(sweep, tmp_path / "out", backend=BACKEND)
    assert again.count("skipped") == 4
    assert all(calls(tmp_path / "out" / r.name) == 1 for r in sweep.runs)


def test_select_runs_keeps_the_sweep_order_and_rejects_a_pattern_that_matches_nothing():
    names = ["strategy=random,seed=0", "strategy=entropy,seed=0", "strategy=random,seed=1"]
    assert select_runs(names, ["strategy=random*"]) == [names[0], names[2]]
    assert select_runs(names, ["*seed=1", "strategy=entropy*"]) == names[1:]  # sweep order
    assert select_runs(names, ["strategy=random,seed=?"]) == [names[0], names[2]]
    with pytest.raises(ConfigError, match=r"--only 'strategy=ralis\*' matches none of the 3"):
        select_runs(names, ["strategy=random*", "strategy=ralis*"])


def test_only_runs_the_chosen_arms_and_the_whole_sweep_finishes_the_rest(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, GRID))
    out = tmp_path / "out"
    summary = run_sweep(sweep, out, only=["strategy=entropy*"], backend=BACKEND)
    entropy = [r.name for r in sweep.runs if r.config.strategy.name == "entropy"]
    assert summary.total == 2 and sorted(o.name for o in summary.outcomes) == sorted(entropy)
    assert [calls(out / r.name) for r in sweep.runs] == [int(r.name in entropy) for r in sweep.runs]
    manifest = json.loads((out / "sweep.json").read_text())
    assert [r["name"] for r in manifest["runs"]] == [r.name for r in sweep.runs]  # all of them
    rest = run_sweep(sweep, out, backend=BACKEND)
    assert (rest.count("skipped"), rest.count("done")) == (2, 2)


def _as_an_older_version_wrote_it(run_dir: Path, drop: tuple[str, str]) -> None:
    """The status hash covered every key, and the config lacked one key a later version added."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    section, key = drop
    del config[section][key]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    status = read_status(run_dir)
    status["config_hash"] = config_hash(config)
    (run_dir / "status.json").write_text(json.dumps(status))
    references = run_dir.parent / "references"
    for cached in references.glob("*.json"):  # as if cached under the whole-config key
        cached.rename(references / f"{earlier_reference_keys(config)[-1]}.json")


def test_a_run_made_without_its_reference_is_the_same_run_and_gets_it_when_asked(tmp_path):
    out = tmp_path / "out"
    without = {"overrides": {"full_supervision.enabled": False}}
    first = load_sweep(write_sweep(tmp_path, {"seed": [0]}, **without))
    assert run_sweep(first, out, backend=BACKEND).count("done") == 1
    (run,) = first.runs
    before = run_state(out / run.name)
    assert before[2] is None and not (out / "references").exists()

    again = load_sweep(write_sweep(tmp_path, {"seed": [0]}))
    assert [r.name for r in again.runs] == [run.name]
    assert run_sweep(again, out, backend=BACKEND).count("skipped") == 1
    assert calls(out / run.name) == 1  # not run again
    after = run_state(out / run.name)
    assert after[:2] == before[:2]  # rounds and annotations untouched
    (cached,) = (out / "references").glob("*.json")
    assert json.loads(after[2]) == json.loads(cached.read_text())
    assert run_sweep(again, out, backend=BACKEND).count("skipped") == 1  # once is enough


def test_runs_and_references_of_an_older_version_stay_valid_when_a_key_is_added(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, {"seed": [0]}))
    out = tmp_path / "out"
    run_sweep(sweep, out, backend=BACKEND)
    (run,) = sweep.runs
    _as_an_older_version_wrote_it(out / run.name, ("annotation", "context_margin"))

    assert run_sweep(sweep, out, backend=BACKEND).count("skipped") == 1
    assert calls(out / run.name) == 1
    # a new run that shares the seed finds the reference cached under the old key
    more = load_sweep(write_sweep(tmp_path, {"seed": [0], "strategy.name": ["entropy"]}))
    assert run_sweep(more, out, backend=BACKEND).count("done") == 1
    # nothing computed anew: the old file, and the same reference under today's key
    old_file, new_file = sorted(
        (out / "references").glob("*.json"), key=lambda p: p.stat().st_mtime
    )
    assert old_file.read_text() == new_file.read_text()


def test_budgets_with_equal_rounds_share_one_reference_and_find_the_whole_budget_key(tmp_path):
    out = tmp_path / "out"
    references = out / "references"
    first = load_sweep(write_sweep(tmp_path, {"seed": [0]}))
    run_sweep(first, out, backend=BACKEND)
    (cached,) = references.glob("*.json")
    # as the previous version cached it: under a key of the whole budget
    cached.rename(references / f"{earlier_reference_keys(first.runs[0].config.to_dict())[0]}.json")
    entropy = load_sweep(write_sweep(tmp_path, {"seed": [0], "strategy.name": ["entropy"]}))
    assert run_sweep(entropy, out, backend=BACKEND).count("done") == 1
    assert len(list(references.glob("*.json"))) == 2  # found, and stored under today's key

    doubled = {"budget.initial_seconds": [20], "budget.round_seconds": [24]}
    longer = load_sweep(
        write_sweep(tmp_path, {"seed": [0], **doubled, "budget.total_seconds": [68]})
    )
    assert run_sweep(longer, out, backend=BACKEND).count("done") == 1
    assert len(list(references.glob("*.json"))) == 2  # three rounds each: nothing computed anew
    more_rounds = load_sweep(write_sweep(tmp_path, {"seed": [0], "budget.total_seconds": [46]}))
    assert run_sweep(more_rounds, out, backend=BACKEND).count("done") == 1
    assert len(list(references.glob("*.json"))) == 3  # four rounds: the reference trains longer


def test_a_run_of_an_older_version_with_another_value_is_not_skipped(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, {"seed": [0]}))
    out = tmp_path / "out"
    run_sweep(sweep, out, backend=BACKEND)
    (run,) = sweep.runs
    config_path = out / run.name / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["budget"]["total_seconds"] = 999
    config_path.write_text(yaml.safe_dump(config))
    status = read_status(out / run.name)
    status["config_hash"] = "0" * 16
    (out / run.name / "status.json").write_text(json.dumps(status))
    assert run_sweep(sweep, out, backend=BACKEND).count("skipped") == 0


def test_a_failed_run_is_recorded_and_the_others_finish(tmp_path):
    sweep = load_sweep(
        write_sweep(tmp_path, {"annotation.method": ["oracle", "explode"], "seed": [0, 1]})
    )
    summary = run_sweep(sweep, tmp_path / "out", backend=BACKEND)
    assert summary.count("done") == 2 and len(summary.failed) == 2
    bad = tmp_path / "out" / "method=explode,seed=0"
    status = read_status(bad)
    assert status["state"] == "failed" and status["error"] == "RuntimeError: the method exploded"
    assert "Traceback" in (bad / "log.txt").read_text()
    # a re-run retries only the failed runs
    again = run_sweep(sweep, tmp_path / "out", backend=BACKEND)
    assert again.count("skipped") == 2 and len(again.failed) == 2
    assert (
        read_status(bad)["attempts"] == 2 and calls(tmp_path / "out" / "method=oracle,seed=0") == 1
    )


def test_a_run_held_by_another_process_is_left_alone(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, {"seed": [0]}))
    (job,) = make_jobs(sweep, tmp_path / "out", BACKEND)
    Path(job.run_dir).mkdir(parents=True)
    with FileLock(Path(job.run_dir) / LOCK_FILE):
        assert execute_run(job).state == "busy"
    assert calls(Path(job.run_dir)) == 0
    assert execute_run(job).state == "done"


def test_a_deadline_that_leaves_no_room_starts_nothing(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, GRID))
    events = []
    summary = run_sweep(
        sweep, tmp_path / "out", deadline_seconds=0, notify=events.append, backend=BACKEND
    )
    assert summary.count("deferred") == 4 and [e.state for e in events] == ["deferred"] * 4
    assert not any((tmp_path / "out" / r.name).exists() for r in sweep.runs)


KILLED_SWEEP = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from al_loop.sweeps.schedule import run_sweep
    from al_loop.sweeps.sweep import load_sweep
    run_sweep(load_sweep({sweep!r}), {out!r}, backend="tests.sweeps.test_sweep")
    """
)


def test_a_killed_sweep_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    sweep_file = write_sweep(tmp_path, GRID)
    sweep = load_sweep(sweep_file)
    order = [job.name for job in interleave_by_reference(make_jobs(sweep, tmp_path))]
    victim = order[2]  # runs 0 and 1 finish, run 2 dies mid-round, run 3 never starts
    script = KILLED_SWEEP.format(
        root=str(REPO_ROOT), sweep=str(sweep_file), out=str(tmp_path / "k")
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**os.environ, KILL_ENV: f"{victim}:3"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    states = [(read_status(tmp_path / "k" / name) or {}).get("state") for name in order]
    assert states == ["done", "done", "running", None]
    with LabelStore(tmp_path / "k" / victim / "store.sqlite") as store:
        assert len(store.annotations()) == 3

    summary = run_sweep(sweep, tmp_path / "k", backend=BACKEND)
    assert [o.state for o in summary.outcomes] == ["skipped", "skipped", "done", "done"]
    assert [calls(tmp_path / "k" / name) for name in order] == [1, 1, 2, 1]
    assert read_status(tmp_path / "k" / victim)["attempts"] == 2
    run_sweep(sweep, tmp_path / "clean", backend=BACKEND)
    for run in sweep.runs:
        assert run_state(tmp_path / "k" / run.name) == run_state(tmp_path / "clean" / run.name)


def test_ray_workers_give_the_same_results_as_in_process(tmp_path):
    pytest.importorskip("ray")
    sweep = load_sweep(write_sweep(tmp_path, {"strategy.name": ["random", "entropy"], "seed": [0]}))
    parallel = run_sweep(sweep, tmp_path / "ray", workers=2, backend=BACKEND)
    assert parallel.count("done") == 2, parallel.outcomes
    run_sweep(sweep, tmp_path / "seq", workers=1, backend=BACKEND)
    for run in sweep.runs:
        assert run_state(tmp_path / "ray" / run.name) == run_state(tmp_path / "seq" / run.name)
        assert read_status(tmp_path / "ray" / run.name)["pid"] != os.getpid()  # ran in a worker


# -- the real wiring: a sweep run equals the same config run alone -----------------------------
TINY = {
    "seed": 0,
    "threads": 1,
    "dataset": {"name": "synthetic", "params": {"num_images": 30, "hw": [48, 48]}},
    "units": {"kind": "grid", "cell": 24},
    "segmenter": {"epochs": 1, "batch_size": 8, "encoder_weights": None, "augment": False},
    "strategy": {"name": "entropy"},
    "annotation": {"max_interactions": 3},
    "budget": {"initial_seconds": 50, "round_seconds": 550, "total_seconds": 600},
    "full_supervision": {"epochs": 1},
}


@pytest.mark.slow
def test_a_sweep_run_equals_the_same_config_run_alone(tmp_path):
    pytest.importorskip("al_loop.annotators.simulated", exc_type=ImportError)
    from al_loop.interactive import METHODS
    from al_loop.wiring.cli import main

    method = "oracle_polygon" if "oracle_polygon" in METHODS else sorted(METHODS)[0]
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump({"name": "eq", "base": TINY, "grid": {"annotation.method": [method]}})
    )
    assert main(["sweep", str(path), "--out", str(tmp_path / "sweep"), "--workers", "1"]) == 0
    run_dir = tmp_path / "sweep" / f"method={method}"
    assert main(["run", str(run_dir / "config.yaml"), "--out", str(tmp_path / "alone")]) == 0
    swept, alone = run_state(run_dir), run_state(tmp_path / "alone")
    assert len(swept[0]) == 2 and swept == alone  # a random round, then a model-driven one


def test_the_cli_lists_a_sweep_without_running_it(tmp_path, capsys):
    from al_loop.wiring.cli import main

    # the CLI checks every run's names first: a real method, not the fake backend's oracle
    base = merge(BASE, {"annotation.method": "polygon"})
    sweep_file = write_sweep(tmp_path, GRID, base=base)
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "strategy=entropy,seed=1" in out and "4 runs" in out
    assert not (tmp_path / "o").exists()


def test_the_cli_lists_only_the_chosen_runs_and_names_a_pattern_that_matches_none(tmp_path, capsys):
    from al_loop.wiring.cli import main

    base = merge(BASE, {"annotation.method": "polygon"})
    sweep_file = write_sweep(tmp_path, GRID, base=base)
    args = ["sweep", str(sweep_file), "--out", str(tmp_path / "o"), "--dry-run"]
    assert main([*args, "--only", "*seed=1"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == [
        "strategy=random,seed=1",
        "strategy=entropy,seed=1",
        f"2 runs -> {tmp_path / 'o'}",
    ]
    assert main([*args, "--only", "strategy=ralis*"]) == 2
    assert "--only 'strategy=ralis*' matches none of the 4 runs" in capsys.readouterr().err


def test_the_cli_checks_only_the_runs_only_chooses(tmp_path, capsys):
    from al_loop.wiring.cli import main

    # a RALis arm whose policy is not trained yet fails its check; the other arm runs without it
    grid = {"strategy": [{"name": "random"}, {"name": "ralis", "params": {"policy": "none.pt"}}]}
    base = merge(BASE, {"annotation.method": "polygon"})
    sweep_file = write_sweep(tmp_path, grid, base=base)
    args = ["sweep", str(sweep_file), "--out", str(tmp_path / "o"), "--dry-run"]
    assert main(args) == 2
    assert "none.pt not found" in capsys.readouterr().err
    assert main([*args, "--only", "strategy=random*"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"1 runs -> {tmp_path / 'o'}"


def test_the_cli_reports_a_bad_sweep_in_one_line(tmp_path, capsys):
    from al_loop.wiring.cli import main

    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert "sweep file not found" in capsys.readouterr().err


def test_a_base_config_that_is_not_text_is_a_one_line_error(tmp_path):
    (tmp_path / "base.yaml").write_bytes(b"\x00\xff")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml"}))
    with pytest.raises(ConfigError, match=r"base.yaml: not a UTF-8 text file"):
        load_sweep(path)
