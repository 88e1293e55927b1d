import pytest
import yaml

from al_loop.core.config import load_config, merge, parse_config
from al_loop.core.errors import ConfigError
from al_loop.core.paths import CONFIG_DIR


def test_defaults_are_valid():
    config = parse_config({})
    assert config.units.kind == "grid" and config.segmenter.encoder == "timm-tf_efficientnet_lite0"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"strategy": {"nam": "x"}}, "strategy.nam: unknown key"),
        ({"sed": 1}, "sed: unknown key"),
        ({"budget": {"total_seconds": -1}}, "budget.total_seconds"),
        ({"budget": {"initial_seconds": 50, "total_seconds": 10}}, "at least initial_seconds"),
        ({"units": {"kind": "hexagon"}}, "units.kind"),
        ({"annotation": {"target_iou": 1.5}}, "annotation.target_iou"),
    ],
)
def test_invalid_keys_and_values_name_the_key(data, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        parse_config(data, origin="x.yaml")


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    with pytest.raises(ConfigError, match="list.yaml: the top level"):
        load_config(listy)


def test_overrides_use_dotted_keys():
    assert merge({"a": {"b": 1, "c": 2}}, {"a.b": 3, "d": 4}) == {"a": {"b": 3, "c": 2}, "d": 4}


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_experiment_config_validates(path):
    data = yaml.safe_load(path.read_text())
    if path.name == "costs.yaml" or "base" in data:
        pytest.skip("the cost table or a sweep file, not an experiment config")
    if path.name.startswith("interactive_"):  # al-loop train-interactive configs
        from al_loop.interactive.learned.train import load_train_config

        load_train_config(path)
    else:
        load_config(path)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"segmenter": {"windows": {"size": 100}}}, "segmenter.windows: .*multiple of 32"),
        ({"segmenter": {"windows": {"size": -32}}}, "segmenter.windows.size"),
        ({"segmenter": {"windows": {"size": 64, "context": 40}}}, "context must be at most 31"),
        ({"segmenter": {"windows": {"sise": 64}}}, "segmenter.windows.sise: unknown key"),
        ({"full_supervision": {"patience": 0}}, "full_supervision.patience"),
        ({"full_supervision": {"eval_every": 0}}, "full_supervision.eval_every"),
        (
            {"full_supervision": {"patience": 3, "epochs": 10, "max_epochs": 5}},
            "max_epochs .5. is below epochs .10.",
        ),
    ],
)
def test_window_and_plateau_settings_are_checked(data, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_config(data, origin="x.yaml")


def test_window_fit_and_plateau_are_opt_in():
    config = parse_config({})
    assert config.segmenter.windows is None and config.full_supervision.patience is None
    windows = parse_config({"segmenter": {"windows": {"size": 96}}}).segmenter.windows
    assert (windows.size, windows.context) == (96, None)


def test_a_cost_table_path_is_made_absolute_where_the_config_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = parse_config({"annotation": {"costs": "tables/mine.yaml"}})
    assert config.annotation.costs == str(tmp_path.resolve() / "tables/mine.yaml")
    assert parse_config({}).annotation.costs is None
