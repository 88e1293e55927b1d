"""Wiring: the annotation method picks the annotator; bad method params fail in one line; the
full-supervision reference trains at least as long as the loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from al_loop.annotators.feature_space import FeatureSpaceAnnotator
from al_loop.annotators.simulated import SimulatedAnnotator
from al_loop.core.config import parse_config
from al_loop.core.errors import ConfigError
from al_loop.core.protocols import units_per_call
from al_loop.feature_space.features import ProbabilityMaps
from al_loop.models.plateau import PlateauFitted
from al_loop.wiring.build import (
    build_annotator,
    build_budget,
    build_loop_segmenter,
    build_parts,
    build_segmenter,
    full_supervision_reference,
    load_splits,
    reference_min_steps,
    run_experiment,
    unit_view_size,
)

MASKS = np.zeros((2, 8, 8), np.uint8)


def config(method: str, **params):
    return parse_config({"annotation": {"method": method, "params": params}})


def test_feature_space_builds_the_batch_box_labeller():
    annotator = build_annotator(config("feature_space", purity=0.8, units_per_call=50), MASKS)
    assert isinstance(annotator, FeatureSpaceAnnotator)
    assert annotator.labeller.purity == 0.8 and units_per_call(annotator) == 50


def test_segmenter_maps_make_the_loops_segmenter_the_annotators_encoder():
    segmenter = object()
    annotator = build_annotator(
        config("feature_space", features="segmenter_maps"), MASKS, segmenter=segmenter
    )
    assert annotator.encoder is segmenter
    assert build_annotator(config("feature_space"), MASKS, segmenter=segmenter)._encoder is None


def test_segmenter_probs_give_the_annotator_the_loops_segmenters_probabilities():
    segmenter = object()
    annotator = build_annotator(
        config("feature_space", features="segmenter_probs", purity_by="pixels"),
        MASKS,
        segmenter=segmenter,
    )
    assert isinstance(annotator.encoder, ProbabilityMaps)
    assert annotator.encoder.segmenter is segmenter
    assert annotator.labeller.purity_by == "pixels"


def test_a_loops_parts_share_one_segmenter_with_a_segmenter_maps_annotator(tmp_path):
    cfg = parse_config(
        {
            "dataset": {"name": "synthetic", "params": {"num_images": 6, "hw": [32, 32]}},
            "segmenter": {"encoder_weights": None},
            "annotation": {"method": "feature_space", "params": {"features": "segmenter_maps"}},
        }
    )
    parts = build_parts(cfg, load_splits(cfg), tmp_path)
    assert parts.annotator.encoder is parts.segmenter


def test_interactive_methods_keep_the_per_unit_annotator():
    annotator = build_annotator(config("watershed_clicks"), MASKS)
    assert isinstance(annotator, SimulatedAnnotator) and units_per_call(annotator) == 1


def test_bad_method_params_are_config_errors():
    with pytest.raises(ConfigError, match="annotation.params for 'feature_space'"):
        build_annotator(config("feature_space", colour="red"), MASKS)
    with pytest.raises(ConfigError, match="annotation.method 'watershed_clicks'"):
        build_annotator(config("watershed_clicks", purity=0.8), MASKS)


def test_interactive_methods_get_their_params():
    annotator = build_annotator(config("watershed_clicks", radius=3), MASKS)
    assert annotator.method.radius == 3


def test_an_unknown_method_lists_every_valid_one():
    with pytest.raises(ConfigError, match="feature_space.*watershed_clicks"):
        build_annotator(config("feature_spcae"), MASKS)


def reference_config(warm_start: bool, min_steps=None):
    return parse_config(
        {
            "segmenter": {"min_steps": 40, "warm_start": warm_start},
            "budget": {"initial_seconds": 100, "round_seconds": 50, "total_seconds": 260},
            "full_supervision": {"min_steps": min_steps},
        }
    )


def test_the_reference_trains_as_long_as_all_warm_started_rounds_together():
    # rounds at 100, 150, 200, 250, 260 s: five fits of 40 steps on the same weights
    assert reference_min_steps(reference_config(warm_start=True)) == 5 * 40


def test_without_warm_start_the_reference_matches_one_fit():
    assert reference_min_steps(reference_config(warm_start=False)) == 40


def test_a_configured_reference_length_wins():
    assert reference_min_steps(reference_config(warm_start=True, min_steps=7)) == 7


@pytest.mark.parametrize(
    ("initial", "per_round", "total", "rounds"),
    [(100, 50, 100, 1), (100, 50, 150, 2), (100, 50, 151, 3), (300, 300, 1800, 6)],
)
def test_budget_rounds_count_the_targets_up_to_the_total(initial, per_round, total, rounds):
    budget = build_budget(
        parse_config(
            {
                "budget": {
                    "initial_seconds": initial,
                    "round_seconds": per_round,
                    "total_seconds": total,
                }
            }
        )
    )
    assert budget.rounds == rounds
    assert budget.target(rounds - 1) == total
    assert rounds == 1 or budget.target(rounds - 2) < total


def test_a_retrained_method_trains_at_the_size_of_a_grid_units_crop():
    grid = parse_config(
        {"units": {"kind": "grid", "cell": 32}, "annotation": {"context_margin": 8}}
    )
    assert unit_view_size(grid) == 48
    assert unit_view_size(parse_config({"units": {"kind": "image"}})) is None


def tiny_run_config(until_plateau=None, **full_supervision):
    segmenter = {"epochs": 1, "batch_size": 4, "windows": {"size": 32}}
    if until_plateau is not None:
        segmenter["until_plateau"] = until_plateau
    return parse_config(
        {
            "seed": 3,
            "threads": 1,
            "dataset": {"name": "synthetic", "params": {"num_images": 20, "hw": [32, 32]}},
            "segmenter": segmenter,
            "budget": {"initial_seconds": 100, "round_seconds": 100, "total_seconds": 100},
            "full_supervision": {"epochs": 1, **full_supervision},
        }
    )


def test_the_loop_segmenter_fits_windows_and_the_reference_whole_images():
    config = tiny_run_config()
    assert build_segmenter(config, 3).windows.size == 32
    assert build_segmenter(config, 3, whole_images=True).windows is None


def test_a_reference_with_patience_reports_its_epochs_and_val_curve_and_repeats():
    config = tiny_run_config(patience=1, max_epochs=4)
    splits = load_splits(config)
    first = full_supervision_reference(config, splits)
    assert 1 <= first["best_epoch"] <= first["epochs"] <= 4
    assert first["miou"] == max(score for _, score in first["val_curve"])
    assert first == full_supervision_reference(config, splits)
    # without patience: the fixed-length reference, no curve
    assert "val_curve" not in full_supervision_reference(tiny_run_config(), splits)


def test_until_plateau_makes_every_round_train_until_val_stops_improving(tmp_path):
    config = tiny_run_config({"patience": 1, "max_epochs": 3}, enabled=False)
    splits = load_splits(config)
    parts = build_parts(config, splits, tmp_path)
    assert isinstance(parts.segmenter, PlateauFitted)
    assert parts.segmenter.val is splits.val and parts.segmenter.pool_images == len(splits.train)
    lines = []
    (record,) = run_experiment(config, tmp_path / "run", log=lines.append, splits=splits)
    assert record.metrics["fit_best_epoch"] >= 1 and record.metrics["fit_steps"] > 0
    best, steps = record.metrics["fit_best_epoch"], record.metrics["fit_steps"]
    assert any(f"(fit: {steps} steps, best epoch {best} of " in line for line in lines)
    (again,) = run_experiment(config, tmp_path / "again", log=lambda _: None, splits=splits)
    assert again.metrics["miou"] == record.metrics["miou"]  # deterministic for a seed
    lines.clear()
    plain = run_experiment(tiny_run_config(enabled=False), tmp_path / "plain", log=lines.append)
    assert "fit_best_epoch" not in plain[0].metrics and plain[0].metrics["fit_steps"] > 0
    assert any(f"(fit: {plain[0].metrics['fit_steps']} steps)" in line for line in lines)


def test_until_plateau_without_validation_masks_is_a_one_line_error():
    config = tiny_run_config({})
    splits = load_splits(config)
    splits = dataclasses.replace(splits, val=dataclasses.replace(splits.val, masks=None))
    with pytest.raises(ConfigError, match="segmenter.until_plateau: needs a validation split"):
        build_loop_segmenter(config, splits)
    assert not isinstance(build_loop_segmenter(tiny_run_config(), splits), PlateauFitted)


def test_until_plateau_settings_are_checked_by_key():
    with pytest.raises(ConfigError, match=r"segmenter\.until_plateau\.patience"):
        parse_config({"segmenter": {"until_plateau": {"patience": 0}}})
