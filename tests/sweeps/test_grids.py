"""``grids``: a sweep as the union of smaller products, each shared run once."""

from __future__ import annotations

import pytest
import yaml

from al_loop.core.errors import ConfigError
from al_loop.core.paths import CONFIG_DIR
from al_loop.sweeps.sweep import (
    SweepSpec,
    expand_runs,
    load_sweep,
    parse_run_name,
    short_keys,
    union_of_grids,
)

BASE = {
    "seed": 0,
    "dataset": {"name": "synthetic", "params": {"num_images": 10}},
    "annotation": {"method": "oracle"},
}


def test_union_keeps_each_shared_run_once_with_one_key_order():
    runs = union_of_grids(
        [
            {"strategy.name": ["random", "entropy"], "annotation.method": ["a"], "seed": [0]},
            {"annotation.method": ["a", "b"], "strategy.name": ["random"], "seed": [0]},
        ]
    )
    assert runs == [
        {"strategy.name": "random", "annotation.method": "a", "seed": 0},
        {"strategy.name": "entropy", "annotation.method": "a", "seed": 0},
        {"strategy.name": "random", "annotation.method": "b", "seed": 0},
    ]


def test_grids_follow_the_grid_and_precede_includes():
    spec = SweepSpec(
        grid={"seed": [5]},
        grids=[
            {"strategy.name": ["random", "entropy"], "seed": [0, 1]},
            {"strategy.name": ["random"], "seed": [0, 1], "annotation.method": ["b"]},
        ],
        include=[{"strategy.name": "margin", "seed": 7}],
    )
    names = [run.name for run in expand_runs(spec, BASE, "sw")]
    assert names == [
        "seed=5",
        "strategy=random,seed=0",
        "strategy=random,seed=1",
        "strategy=entropy,seed=0",
        "strategy=entropy,seed=1",
        "strategy=random,seed=0,method=b",
        "strategy=random,seed=1,method=b",
        "strategy=margin,seed=7",
    ]


@pytest.mark.parametrize(
    ("grids", "message"), [([{}], r"grids\[0\] is empty"), ([{"seed": []}], "has no values")]
)
def test_empty_sub_grids_are_refused(grids, message):
    with pytest.raises(ValueError, match=message):
        SweepSpec(grids=grids)


def test_a_run_in_grid_and_grids_is_still_a_duplicate():
    spec = SweepSpec(grid={"seed": [1]}, grids=[{"seed": [1]}])
    with pytest.raises(ConfigError, match="same name"):
        expand_runs(spec, BASE, "sw")


def test_load_sweep_reads_grids(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump({"base": BASE, "grids": [{"seed": [0, 1]}, {"seed": [1, 2]}], "threads": 1})
    )
    assert [run.name for run in load_sweep(path).runs] == ["seed=0", "seed=1", "seed=2"]


@pytest.mark.parametrize("name", ["study_camvid.yaml", "study_davis.yaml"])
def test_the_studies_expand(name):
    sweep = load_sweep(CONFIG_DIR / name)
    strategies = {run.config.strategy.name for run in sweep.runs}
    assert {"random", "entropy", "bald", "coreset", "hybrid", "cost_aware"} <= strategies
    assert {run.config.seed for run in sweep.runs} == {0, 1, 2}
    assert len({run.name for run in sweep.runs}) == len(sweep.runs)


def test_a_named_part_leads_its_run_name_with_its_name_and_reads_back():
    spec = SweepSpec(
        grids=[
            {
                "strategy": [
                    {"name": "random"},
                    {"name": "entropy", "params": {"class_balance": True}},
                ]
            },
            {"strategy": [{"name": "random"}], "seed": [3]},
        ]
    )
    runs = expand_runs(spec, BASE, "sw")
    assert [r.name for r in runs] == [
        "strategy=random+",  # the '+': a part named random, not the string 'random'
        "strategy=entropy+params@class_balance@true",
        "strategy=random+,seed=3",
    ]
    labels = short_keys(["strategy", "seed"])
    assert [parse_run_name(r.name, labels) for r in runs] == [r.params for r in runs]
    assert runs[1].config.strategy.params == {"class_balance": True}
