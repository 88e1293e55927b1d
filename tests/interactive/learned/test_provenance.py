"""The leakage guard: `al-loop run` and `al-loop noc` refuse an annotation model trained on the
images they would label or score (or whose metadata does not say), unless allowed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from al_loop.core.config import merge, parse_config
from al_loop.core.errors import ConfigError
from al_loop.core.paths import CONFIG_DIR
from al_loop.data import BINARY_CLASSES, SegmentationData, write_folder
from al_loop.interactive.learned.provenance import (
    Evaluated,
    check_unseen,
    record,
    source_identity,
    unseen_only,
)
from al_loop.wiring.build import run_experiment
from al_loop.wiring.check import check_config
from al_loop.wiring.cli import main
from tests.interactive.learned_fakes import tiny_weights

SYNTH = [f"synth_{i:05d}" for i in range(4)]


def with_record(weights, trained_on) -> None:
    """Rewrite the weights' metadata: ``trained_on`` records, or None to drop the key."""
    meta_file = weights.with_suffix(".json")
    meta = json.loads(meta_file.read_text())
    meta.pop("trained_on")
    if trained_on is not None:
        meta["trained_on"] = trained_on
    meta_file.write_text(json.dumps(meta))


def test_sources_name_which_images_a_data_set_holds(tmp_path):
    assert source_identity("davis", {"root": "/x/DAVIS", "hw": [64, 64]}) == "davis"
    assert source_identity("synthetic", {"num_images": 9}) == "synthetic:seed=0"
    assert source_identity("synthetic", {"seed": 4, "hw": [32, 32]}) == "synthetic:seed=4"
    folder = source_identity("folder", {"root": str(tmp_path / "a" / ".." / "set")})
    assert folder == f"folder:{tmp_path / 'set'}"


def test_the_guard_refuses_seen_images_names_the_file_and_allows_disjoint_ones(tmp_path):
    weights = tmp_path / "w.pt"
    meta = {"trained_on": [record("synthetic", {"seed": 0}, "train", SYNTH[:2])]}
    pool = Evaluated("the run's pool", "synthetic:seed=0", SYNTH[1:])
    with pytest.raises(ConfigError) as err:
        check_unseen(weights, meta, [pool], "allow: true")
    message = str(err.value)
    assert message.startswith(f"{weights}: trained on 1 of the run's pool (synthetic:seed=0")
    assert "synth_00001" in message and "allow: true" in message and "\n" not in message
    check_unseen(weights, meta, [Evaluated("x", "synthetic:seed=1", SYNTH)], "a")  # other seed
    check_unseen(weights, meta, [Evaluated("x", "synthetic:seed=0", SYNTH[2:])], "a")  # others
    with pytest.raises(ConfigError, match="does not say which images.*pass a"):
        check_unseen(weights, {}, [], "a")
    assert unseen_only(meta, "synthetic:seed=0", SYNTH) == [2, 3]


def demo(weights, **changes):
    data = yaml.safe_load((CONFIG_DIR / "demo.yaml").read_text())
    overrides = {
        "dataset.params": {"num_images": 12, "hw": [64, 64], "seed": 0},
        "annotation.method": "ritm_clicks",
        "annotation.params": {"weights": str(weights)},
        "full_supervision.enabled": False,
        **changes,
    }
    return parse_config(merge(data, overrides), "demo")


def test_run_refuses_a_model_trained_on_its_pool_before_writing_anything(tmp_path):
    weights = tiny_weights(tmp_path, "click")
    with_record(weights, [record("synthetic", {"seed": 0}, "train", SYNTH)])
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"w.pt|click.pt: trained on \d+ of the run's (pool|val)"):
        run_experiment(demo(weights), run_dir, log=lambda _: None)
    assert not run_dir.exists() or not any(run_dir.iterdir())


def test_run_accepts_disjoint_training_images_or_an_explicit_allowance(tmp_path, monkeypatch):
    from al_loop.data import load_dataset
    from al_loop.wiring import check

    weights = tiny_weights(tmp_path, "click")
    splits = load_dataset("synthetic", num_images=12, hw=(64, 64), seed=0)
    with_record(weights, [record("synthetic", {"seed": 7}, "train", SYNTH)])  # another set
    check.check_annotation_unseen(demo(weights), splits)
    with_record(weights, [record("synthetic", {"seed": 0}, "train", splits.test.names)])
    check.check_annotation_unseen(demo(weights), splits)  # the test split is not labelled
    with_record(weights, [record("synthetic", {"seed": 0}, "val", splits.val.names)])
    with pytest.raises(ConfigError, match="the run's validation set"):
        check.check_annotation_unseen(demo(weights), splits)
    check.check_annotation_unseen(demo(weights, **{"annotation.allow_seen_images": True}), splits)


def test_weights_without_the_record_are_refused_at_preflight_unless_allowed(tmp_path):
    weights = tiny_weights(tmp_path, "click")
    with_record(weights, None)
    with pytest.raises(ConfigError, match="annotation.allow_seen_images: true"):
        check_config(demo(weights))
    check_config(demo(weights, **{"annotation.allow_seen_images": True}))


def test_noc_refuses_evaluated_images_the_model_saw_or_skips_them(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(2, 32, 32, 3), dtype=np.uint8)
    masks = np.zeros((2, 32, 32), np.uint8)
    masks[:, 8:24, 8:24] = 1
    write_folder(SegmentationData(["a", "b"], images, masks, list(BINARY_CLASSES), "t"),
                 tmp_path / "set")  # fmt: skip
    weights = tiny_weights(tmp_path, "click")
    with_record(weights, [record("folder", {"root": str(tmp_path / "set")}, "train", ["a"])])
    argv = ["noc", "--method", "ritm_clicks", "--dataset", str(tmp_path / "set")]
    argv += ["--param", f"ritm_clicks.weights={weights}", "--threads", "1"]
    argv += ["--max-interactions", "1", "--out", str(tmp_path / "noc")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        f"{weights}: trained on 1 of the evaluated images (folder:" in err and "--allow-seen" in err
    )
    for extra in (["--skip-seen"], ["--skip-seen", "--limit", "1"]):  # the limit after skipping
        assert main([*argv, *extra]) == 0
        csv = (tmp_path / "noc" / "noc_ritm_clicks.csv").read_text()
        assert "\nb," in csv and "\na," not in csv
    assert main([*argv, "--allow-seen"]) == 0
    assert "\na," in (tmp_path / "noc" / "noc_ritm_clicks.csv").read_text()
    with_record(weights, [record("folder", {"root": str(tmp_path / "set")}, "train", ["a", "b"])])
    assert main([*argv, "--skip-seen"]) == 2
    assert "every image was seen" in capsys.readouterr().err
