"""Retraining a learned method on a run's labels, round after round."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from al_loop.core.errors import ConfigError
from al_loop.core.experiment import repeatable_metrics
from al_loop.core.interactions import Click
from al_loop.core.store import LabelStore
from al_loop.interactive import make_method
from al_loop.interactive.learned.network import read_metadata
from al_loop.interactive.learned.retrain import InteractiveRetrainer, latest_round_weights
from al_loop.wiring.cli import main
from tests.interactive.learned_fakes import tiny_weights
from tests.interactive.test_learned_train import discs

FAST = {"batch_size": 2, "min_object_pixels": 16, "lr": 1e-3}


def retrainer(tmp_path: Path, run: str = "run", **changes) -> InteractiveRetrainer:
    weights = tiny_weights(tmp_path, "click")
    method = make_method("ritm_clicks", weights=weights)
    return InteractiveRetrainer(
        method, tmp_path / run / "interactive", steps=2, **{**FAST, **changes}
    )


def state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def test_each_round_fine_tunes_the_methods_own_weights_and_the_method_uses_them(tmp_path):
    images, masks = discs()
    trainer = retrainer(tmp_path)
    initial = trainer.method.weights
    stats = trainer.update(0, images[:2], masks[:2])
    round0 = trainer.weights_for(0)
    assert stats["annotation_model_steps"] == 2 and np.isfinite(stats["annotation_model_loss"])
    assert trainer.method.weights == round0 and round0.is_file()
    assert not round0.with_suffix(".ckpt").exists()  # final weights only
    trainer.update(1, images, masks)  # more labels: a fresh fine-tune, not round 0's continued
    for r in (0, 1):
        assert read_metadata(trainer.weights_for(r))["training"]["init_weights"] == str(initial)
    before, one, two = state(initial), state(round0), state(trainer.weights_for(1))
    assert any(not torch.equal(before[k], two[k]) for k in before)
    assert any(not torch.equal(one[k], two[k]) for k in before)
    session = trainer.method.start(images[0])  # the retrained weights load and predict
    assert session.add(Click(30, 30, True)).shape == images[0].shape[:2]


def test_a_written_round_is_loaded_not_retrained_and_runs_repeat_exactly(tmp_path):
    images, masks = discs()
    first = retrainer(tmp_path, "a")
    first.update(0, images, masks)
    written = first.weights_for(0).stat().st_mtime_ns
    again = first.update(0, images, masks)
    assert "annotation_model_steps" not in again
    assert first.weights_for(0).stat().st_mtime_ns == written
    second = retrainer(tmp_path, "b")
    second.update(0, images, masks)
    a, b = state(first.weights_for(0)), state(second.weights_for(0))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_without_labelled_objects_the_method_keeps_its_own_weights(tmp_path):
    images, masks = discs()
    trainer = retrainer(tmp_path)
    initial = trainer.method.weights
    stats = trainer.update(0, images, np.full_like(masks, 255))
    assert stats["annotation_model_steps"] == 0 and trainer.method.weights == initial
    assert not trainer.weights_for(0).exists()


def test_bad_settings_and_missing_weights_fail_before_any_round(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        InteractiveRetrainer(
            make_method("ritm_clicks", weights=tmp_path / "none.pt"), tmp_path, steps=1
        )
    with pytest.raises(ConfigError, match="annotation.retrain: batch_size"):
        retrainer(tmp_path, batch_size=0)


def tiny_run_config(tmp_path: Path, weights: Path | None, method: str = "ritm_clicks") -> Path:
    config = {
        "name": "retrain",
        "seed": 0,
        "threads": 1,
        "dataset": {"name": "synthetic", "params": {"num_images": 30, "hw": [48, 48]}},
        "units": {"kind": "image"},
        "segmenter": {"epochs": 1, "batch_size": 8, "encoder_weights": None, "augment": False},
        "strategy": {"name": "random"},
        "annotation": {
            "method": method,
            "max_interactions": 2,
            "params": {} if weights is None else {"weights": str(weights)},
            "retrain": {"steps": 1, "batch_size": 2, "min_object_pixels": 8},
        },
        "budget": {"initial_seconds": 20, "round_seconds": 20, "total_seconds": 40},
        "full_supervision": {"enabled": False},
    }
    path = tmp_path / "retrain.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_curve(run_dir: Path) -> list:
    with LabelStore(run_dir / "store.sqlite") as store:
        return [(r.round, r.seconds_total, repeatable_metrics(r.metrics)) for r in store.rounds()]


@pytest.mark.slow
def test_al_loop_run_retrains_the_method_each_round_and_repeats_its_curve(tmp_path):
    config = tiny_run_config(tmp_path, tiny_weights(tmp_path, "click"))
    for name in ("a", "b"):
        assert main(["run", str(config), "--out", str(tmp_path / name)]) == 0
    curve = run_curve(tmp_path / "a")
    assert len(curve) >= 2 and curve == run_curve(tmp_path / "b")
    assert all(metrics["annotation_model_steps"] == 1 for _, _, metrics in curve)
    written = sorted(p.name for p in (tmp_path / "a" / "interactive").glob("*.pt"))
    assert written == [f"ritm_clicks_round_{r:03d}.pt" for r, _, _ in curve]


def test_retraining_a_method_without_a_model_is_a_config_error(tmp_path, capsys):
    config = tiny_run_config(tmp_path, None, method="watershed_clicks")
    out = ["--out", str(tmp_path / "run")]
    assert main(["run", str(config), *out]) == 2
    err = capsys.readouterr().err
    assert "annotation.retrain.steps" in err and "ritm_clicks" in err
    assert not (tmp_path / "run").exists()  # it failed before writing anything
    missing = ["--set", "annotation.method=ritm_clicks", "--set", "annotation.params.weights=no.pt"]
    assert main(["run", str(config), *missing, *out]) == 2
    assert "no.pt: interactive model weights not found" in capsys.readouterr().err


def test_latest_round_weights_reads_the_round_numbers(tmp_path):
    for name in ("ritm_clicks_round_000.pt", "ritm_clicks_round_012.pt", "dextr_round_099.pt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "ritm_clicks_round_x.pt").write_bytes(b"")
    assert latest_round_weights(tmp_path, "ritm_clicks") == tmp_path / "ritm_clicks_round_012.pt"
    assert latest_round_weights(tmp_path / "none", "iog") is None
