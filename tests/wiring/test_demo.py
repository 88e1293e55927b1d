"""``al-loop demo``: every strategy over every seed, one shared reference, the same curves one
after another or in two processes, resumed rather than redone, and the separation reported."""

from __future__ import annotations

import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.experiment import repeatable_metrics
from al_loop.core.store import LabelStore
from al_loop.wiring import demo
from al_loop.wiring.cli import main

# configs/demo.yaml shrunk to seconds: 20 images of 32x32, 2 rounds, a 2-step reference
TINY = [
    "dataset.params={num_images: 20, hw: [32, 32]}",
    "units.cell=16",
    "segmenter.epochs=1",
    "segmenter.min_steps=2",
    "segmenter.batch_size=4",
    "segmenter.encoder_weights=null",
    "segmenter.augment=false",
    "annotation.max_interactions=2",
    "budget={initial_seconds: 20, round_seconds: 20, total_seconds: 40}",
    "full_supervision={enabled: true, epochs: 1, min_steps: 2}",
]
RUNS = ["random-seed0", "entropy-seed0", "random-seed1", "entropy-seed1"]


def demo_argv(out, workers: int) -> list[str]:
    sets = [arg for pair in TINY for arg in ("--set", pair)]
    return ["demo", "--out", str(out), "--seeds", "0", "1", "--workers", str(workers), *sets]


def curves(out) -> dict[str, list]:
    found = {}
    for name in RUNS:
        with LabelStore(out / name / "store.sqlite", read_only=True) as store:
            found[name] = [
                (r.round, r.status, r.seconds_total, repeatable_metrics(r.metrics))
                for r in store.rounds()
            ]
            found[name + " reference"] = store.get_meta("full_supervision")
    return found


@pytest.fixture(scope="module")
def one_after_another(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "sequential"
    assert main(demo_argv(out, 1)) == 0
    return out


@pytest.mark.slow
def test_two_processes_draw_the_curves_of_one_after_another(one_after_another, tmp_path):
    out = tmp_path / "parallel"
    assert main(demo_argv(out, 2)) == 0
    assert curves(out) == curves(one_after_another)


@pytest.mark.slow
def test_every_strategy_runs_over_every_seed_with_one_reference(one_after_another):
    found = curves(one_after_another)
    for name in RUNS:
        assert [r[:2] for r in found[name]] == [(0, "evaluated"), (1, "evaluated")]
    assert len({found[name + " reference"] for name in RUNS}) == 1  # shared by every run
    assert len(list((one_after_another / "references").glob("*.json"))) == 1
    # the seed is the run's: the two random arms draw different seed sets
    assert found["random-seed0"][0][2:] != found["random-seed1"][0][2:]
    # a seed's round 0 is random picks for both strategies: the same units, seconds, curve
    assert found["random-seed0"][0] == found["entropy-seed0"][0]


@pytest.mark.slow
def test_the_report_states_entropy_against_random_seed_by_seed(one_after_another):
    text = (one_after_another / "report.md").read_text()
    assert "## Against random, seed by seed" in text
    assert "| entropy | watershed_clicks | 2 |" in text or "| entropy | region_label | 2 |" in text
    assert "% of labelling the whole pool" in text or "Labelling the whole pool by hand" in text


@pytest.mark.slow
def test_the_demo_again_resumes_without_retraining_anything(one_after_another, capsys, monkeypatch):
    before = curves(one_after_another)

    def retrain(*args, **kwargs):
        raise AssertionError("the demo retrained its reference")

    monkeypatch.setattr(demo, "full_supervision_reference", retrain)
    assert main(demo_argv(one_after_another, 1)) == 0
    assert curves(one_after_another) == before
    assert "round 0 train" not in capsys.readouterr().err  # no run trained again


def test_demo_runs_are_seed_by_seed():
    from al_loop.core.config import load_config
    from al_loop.core.paths import CONFIG_DIR

    base = load_config(CONFIG_DIR / "demo.yaml")
    runs = demo.demo_runs(base, ["random", "entropy"], [3, 4])
    assert list(runs) == ["random-seed3", "entropy-seed3", "random-seed4", "entropy-seed4"]
    assert [(c.strategy.name, c.seed) for c in runs.values()] == [
        ("random", 3),
        ("entropy", 3),
        ("random", 4),
        ("entropy", 4),
    ]
    assert {c.annotation.method for c in runs.values()} == {base.annotation.method}


@pytest.mark.parametrize(
    ("spec", "name", "params", "folder"),
    [
        ("random", "random", {}, "random-seed2"),
        (
            "entropy:class_balance=true",
            "entropy",
            {"class_balance": True},
            "entropy+class_balance=true-seed2",
        ),
        (
            "cost_aware:base=margin",
            "cost_aware",
            {"base": "margin"},
            "cost_aware+base=margin-seed2",
        ),
    ],
)
def test_a_strategy_on_the_command_line_with_its_parameters(spec, name, params, folder):
    strategy = demo.parse_strategy(spec)
    assert (strategy.name, strategy.params) == (name, params)
    assert demo.run_name(strategy, 2) == folder


@pytest.mark.parametrize("spec", ["entropy:class_balance", "entropy:=1", "entropy:k=[1"])
def test_a_malformed_strategy_is_one_line_naming_it(spec):
    with pytest.raises(ConfigError, match=r"--strategies entropy:"):
        demo.parse_strategy(spec)


def test_an_unknown_strategy_parameter_fails_before_the_data(tmp_path, capsys, monkeypatch):
    from al_loop.wiring import build

    monkeypatch.setattr(build, "load_splits", lambda c: pytest.fail("data generated"))
    argv = ["demo", "--out", str(tmp_path / "d"), "--strategies", "random", "entropy:balance=1"]
    assert main(argv) == 2
    assert "strategy.params for 'entropy'" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
