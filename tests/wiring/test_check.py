"""The pre-flight check: every misspelled name or parameter fails in one line naming the key,
before any data is read, any model built or anything written."""

from __future__ import annotations

import pytest
import yaml

from al_loop.core.config import merge, parse_config
from al_loop.core.errors import ConfigError
from al_loop.core.paths import CONFIG_DIR
from al_loop.wiring import build
from al_loop.wiring.check import check_config

DEMO = yaml.safe_load((CONFIG_DIR / "demo.yaml").read_text())

# (override, what the one-line error must name)
TYPOS = [
    ({"strategy.name": "entropyy"}, "strategy.name: unknown 'entropyy'; valid: bald"),
    ({"strategy.params": {"sampless": 3}}, "strategy.params for 'entropy'"),
    ({"strategy.name": "bald", "strategy.params": {"samples": 1}}, "strategy.samples"),
    (
        {"strategy.name": "cost_aware", "strategy.params": {"base": "entropyy"}},
        "strategy.params.base",
    ),
    (
        {"annotation.method": "watershed_click"},
        "annotation.method: unknown 'watershed_click'; valid:",
    ),
    (
        {"annotation.method": "watershed_clicks", "annotation.params": {"radiuss": 2}},
        "annotation.method 'watershed_clicks'",
    ),
    (
        {"annotation.method": "feature_space", "annotation.params": {"purityy": 1}},
        "annotation.params for 'feature_space'",
    ),
    (
        {"annotation.method": "region_label", "annotation.params": {"thresold": 400}},
        "annotation.params for 'region_label'",
    ),
    (
        {"annotation.method": "ritm_clicks", "annotation.params": {"weights": "/nowhere/w.pt"}},
        "/nowhere/w.pt: interactive model weights not found",
    ),
    ({"annotation.retrain.steps": 5}, "annotation.retrain.steps"),
    (
        {"annotation.costs": "/nowhere/costs.yaml"},
        "annotation.costs: /nowhere/costs.yaml: cost table not found",
    ),
    (
        {"dataset.name": "synth"},
        "dataset.name: unknown 'synth'; valid: camvid, davis, folder, grabcut, run, synthetic",
    ),
    ({"dataset.params": {"num_imgs": 3}}, "dataset.num_imgs: unknown key; valid: num_images"),
    ({"dataset.params": {"hw": [0, 64]}}, "dataset.hw"),
    ({"segmenter.arch": "Unett"}, "segmenter.arch: unknown arch 'Unett'. Did you mean Unet"),
    ({"segmenter.encoder": "timm-tf_efficientnet_lite00"}, "segmenter.encoder: unknown encoder"),
    ({"segmenter.encoder_weights": "imagenett"}, "segmenter.encoder_weights"),
]


def demo_with(overrides: dict):
    return parse_config(merge(DEMO, overrides), origin="demo")


@pytest.mark.parametrize(("overrides", "message"), TYPOS, ids=lambda v: str(v)[:40])
def test_a_misspelled_name_or_param_is_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        check_config(demo_with(overrides))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_units_kind_typo_fails_when_the_config_is_read():
    with pytest.raises(ConfigError, match="units.kind: .*'image', 'grid' or 'superpixel'"):
        demo_with({"units.kind": "grd"})


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"strategy.name": "cost_aware", "strategy.params": {"base": "margin"}},
        {"annotation.method": "feature_space", "annotation.params": {"purity": 0.8}},
        {"annotation.method": "region_label", "annotation.params": {"threshold": 400}},
        {"annotation.method": "polygon", "units.kind": "superpixel"},
        {"segmenter.encoder_weights": None, "dataset.params": {"hw": [64, 64]}},
    ],
)
def test_good_configs_pass(overrides):
    check_config(demo_with(overrides))


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if anything reads data or builds a model."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the config was checked")

    for name in ("load_dataset", "make_segmenter", "SimulatedAnnotator", "LabelStore"):
        monkeypatch.setattr(build, name, forbidden)


@pytest.mark.parametrize(("overrides", "message"), TYPOS, ids=lambda v: str(v)[:40])
def test_run_experiment_checks_before_reading_building_or_writing(
    tmp_path, no_work, overrides, message
):
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match="^[^\n]*$"):
        build.run_experiment(demo_with(overrides), run_dir)
    assert not run_dir.exists()


def test_the_cli_fails_fast_in_one_line_and_writes_nothing(tmp_path, capsys, no_work):
    from al_loop.wiring.cli import main

    out = tmp_path / "run"
    config = ["run", str(CONFIG_DIR / "demo.yaml"), "--out", str(out)]
    assert main([*config, "--set", "annotation.method=grabcut_clickz"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("al-loop: error: annotation.method: unknown 'grabcut_clickz'")
    assert "\n" not in err and not out.exists()


def test_the_demo_checks_every_strategy_before_generating_data(tmp_path, capsys, monkeypatch):
    from al_loop.wiring.cli import main

    def forbidden(*args, **kwargs):
        raise AssertionError("the demo generated data before checking its strategies")

    monkeypatch.setattr(build, "load_splits", forbidden)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--strategies", "random", "entropyy"]) == 2
    assert "strategy.name: unknown 'entropyy'" in capsys.readouterr().err
    assert not out.exists()


def test_a_sweep_dry_run_checks_every_run_of_the_grid(tmp_path, capsys):
    from al_loop.wiring.cli import main

    sweep = tmp_path / "s.yaml"
    grid = {"strategy.name": ["random", "entropy"], "annotation.method": ["polygon", "polygn"]}
    sweep.write_text(yaml.safe_dump({"name": "s", "base": "demo.yaml", "grid": grid}))
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "o"), "--dry-run"]) == 2
    assert "annotation.method: unknown 'polygn'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_learned_weights_trained_for_another_interaction_are_named(tmp_path):
    from tests.interactive.learned_fakes import tiny_weights

    clicks = tiny_weights(tmp_path, "click")
    with pytest.raises(ConfigError, match="trained for 'click' interactions, method dextr"):
        check_config(
            demo_with({"annotation.method": "dextr", "annotation.params.weights": str(clicks)})
        )
    check_config(
        demo_with({"annotation.method": "ritm_clicks", "annotation.params.weights": str(clicks)})
    )
