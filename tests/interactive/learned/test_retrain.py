"""Round weights retrained on a run's labels record the run's pool as seen."""

from __future__ import annotations

import yaml

from al_loop.core.config import merge, parse_config
from al_loop.core.paths import CONFIG_DIR
from al_loop.interactive import make_method
from al_loop.interactive.learned.network import read_metadata
from al_loop.wiring.build import build_annotation_trainer
from tests.interactive.learned_fakes import tiny_weights
from tests.interactive.test_learned_train import discs


def test_round_weights_add_the_runs_pool_to_what_the_initial_weights_saw(tmp_path):
    weights = tiny_weights(tmp_path, "click")
    data = yaml.safe_load((CONFIG_DIR / "demo.yaml").read_text())
    config = parse_config(
        merge(data, {
            "dataset.params": {"seed": 4},
            "annotation.method": "ritm_clicks",
            "annotation.params": {"weights": str(weights)},
            "annotation.retrain": {"steps": 1, "batch_size": 2, "min_object_pixels": 16},
        }),
        "demo",
    )  # fmt: skip
    pool = ["synth_00001", "synth_00007"]
    method = make_method("ritm_clicks", weights=weights)
    trainer = build_annotation_trainer(config, lambda: method, tmp_path / "run", pool)
    images, masks = discs()
    trainer.update(0, images, masks)
    (seen,) = read_metadata(trainer.weights_for(0))["trained_on"]  # the tiny weights saw none
    assert seen["source"] == "synthetic:seed=4" and seen["items"] == pool
