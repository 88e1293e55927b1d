"""Training until val mIoU plateaus: the policy on scripted curves, then on a tiny network."""

from __future__ import annotations

import math

import numpy as np
import pytest

from al_loop.core.errors import AlLoopError, ConfigError
from al_loop.data.base import IGNORE
from al_loop.models.plateau import PlateauFitted, fit_until_plateau, train_until_plateau
from al_loop.models.segmenter import make_segmenter
from tests.fakes import make_toy_data


class Scripted:
    """A model whose val score after epoch e is curve[e - 1]; its 'weights' are its epoch."""

    def __init__(self, curve):
        self.curve, self.epoch, self.restored = list(curve), 0, []

    def train_epoch(self):
        self.epoch += 1

    def evaluate(self):
        score = self.curve[self.epoch - 1]
        return score, {"miou": score, "at": self.epoch}

    def snapshot(self):
        return self.epoch

    def restore(self, epoch):
        self.restored.append(epoch)
        self.epoch = epoch


def run(curve, **kwargs):
    model = Scripted(curve)
    kwargs.setdefault("max_epochs", len(curve))
    result = train_until_plateau(
        model.train_epoch, model.evaluate, model.snapshot, model.restore, **kwargs
    )
    return model, result


def test_stops_after_patience_evaluations_without_a_better_score_and_keeps_the_best():
    model, result = run([0.1, 0.3, 0.5, 0.4, 0.5, 0.2, 0.9], patience=2)
    assert result.epochs == 5  # 0.4 and an equal 0.5 are not better: stop after epoch 5
    assert result.best_epoch == 3 and result.best == {"miou": 0.5, "at": 3}
    assert result.curve == [(1, 0.1), (2, 0.3), (3, 0.5), (4, 0.4), (5, 0.5)]
    assert model.restored == [3] and model.epoch == 3


def test_evaluates_every_k_epochs_and_after_the_last():
    model, result = run([0.1] * 3 + [0.2] * 4, patience=5, eval_every=3)
    assert [e for e, _ in result.curve] == [3, 6, 7]
    assert result.best_epoch == 6 and model.restored == [6]


def test_min_epochs_keep_training_through_a_plateau():
    _, result = run([0.5, 0.4, 0.3, 0.2, 0.6, 0.1], patience=1, min_epochs=4)
    assert result.epochs == 4 and result.best_epoch == 1
    _, result = run([0.5, 0.4, 0.3, 0.2, 0.6, 0.1, 0.1], patience=2, min_epochs=5)
    assert result.epochs == 7 and result.best_epoch == 5


def test_a_rising_curve_stops_at_the_cap_with_the_last_weights():
    model, result = run([0.1, 0.2, 0.3, 0.4], patience=1, max_epochs=3)
    assert result.epochs == 3 and result.best_epoch == 3
    assert model.restored == []  # the last weights are the best: nothing to restore


def test_nan_scores_never_count_as_best():
    _, result = run([math.nan, 0.2, math.nan, math.nan], patience=2)
    assert result.best_epoch == 2 and result.epochs == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"patience": 0},
        {"patience": 1, "eval_every": 0},
        {"patience": 1, "max_epochs": 0},
        {"patience": 1, "min_epochs": 9, "max_epochs": 4},
    ],
)
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError, match="full_supervision"):
        train_until_plateau(lambda: None, lambda: (0.0, {}), lambda: 0, lambda _: None, **kwargs)


# ---------------------------------------------------------------- on a tiny network


def test_fit_until_plateau_keeps_the_best_weights_and_reports_its_curve():
    train, val = make_toy_data(n=6, hw=(32, 32), seed=0), make_toy_data(n=4, hw=(32, 32), seed=1)
    results, predictions = [], []
    for _ in range(2):
        seg = make_segmenter(num_classes=3, epochs=1, batch_size=4, lr=3e-3)
        results.append(
            fit_until_plateau(seg, train.images, train.masks, val, seed=0, patience=2, max_epochs=6)
        )
        predictions.append(seg.predict(val.images))
    ref = results[0]
    scores = [score for _, score in ref["val_curve"]]
    assert ref["miou"] == max(scores)
    assert ref["val_curve"][ref["best_epoch"] - 1] == [ref["best_epoch"], ref["miou"]]
    assert ref["epochs"] == len(scores) and ref["steps"] == 2 * ref["epochs"]
    assert seg.evaluate(val)["miou"] == ref["miou"]  # the best weights are the segmenter's
    assert results[0] == results[1]  # deterministic
    assert np.array_equal(*predictions)


def test_labels_on_part_of_the_pool_are_evaluated_in_epochs_of_the_whole_pool():
    train, val = make_toy_data(n=6, hw=(32, 32), seed=0), make_toy_data(n=4, hw=(32, 32), seed=1)
    masks = train.masks.copy()
    masks[2:] = IGNORE  # labels on 2 of the 6 images: an epoch of them is a third of the pool's
    seg = make_segmenter(num_classes=3, epochs=1, batch_size=4, lr=3e-3)
    result = fit_until_plateau(
        seg, train.images, masks, val, seed=0, patience=1, max_epochs=2, epoch_images=6
    )
    epochs = [epoch for epoch, _ in result["val_curve"]]
    assert epochs == [3 * (i + 1) for i in range(len(epochs))] and epochs[-1] <= 6
    assert result["steps"] == result["epochs"]  # one batch an epoch of the 2 labelled images


def test_a_run_resumed_from_its_state_ends_as_one_never_stopped():
    _, whole = run([0.1, 0.3, 0.2, 0.25, 0.4, 0.1, 0.1], patience=2)
    states = []
    model, _ = run([0.1, 0.3, 0.2], patience=2, evaluated=lambda s, best: states.append((s, best)))
    state, best = states[-1]  # killed after epoch 3: one evaluation since the best (epoch 2)
    assert (state.epochs, state.best_epoch, state.stale, best) == (3, 2, 1, 2)
    model = Scripted([0.1, 0.3, 0.2, 0.25, 0.4, 0.1, 0.1])
    model.epoch = state.epochs
    resumed = train_until_plateau(
        model.train_epoch,
        model.evaluate,
        model.snapshot,
        model.restore,
        patience=2,
        max_epochs=7,
        start=(state, best),
    )
    assert resumed == whole


def test_fit_until_plateau_resumes_from_its_checkpoint_exactly(tmp_path):
    train, val = make_toy_data(n=6, hw=(32, 32), seed=0), make_toy_data(n=4, hw=(32, 32), seed=1)

    def fit(max_epochs, checkpoint=None):
        seg = make_segmenter(num_classes=3, epochs=1, batch_size=4, lr=3e-3, dropout=0.2)
        result = fit_until_plateau(
            seg,
            train.images,
            train.masks,
            val,
            seed=0,
            patience=9,
            max_epochs=max_epochs,
            checkpoint=checkpoint,
        )
        return result, seg.predict(val.images)

    whole, whole_prediction = fit(4)
    checkpoint = tmp_path / "reference.checkpoint.pt"
    first, _ = fit(2, checkpoint)  # a session killed after epoch 2
    assert first["epochs"] == 2 and checkpoint.is_file()
    resumed, resumed_prediction = fit(4, checkpoint)
    assert resumed == whole  # the curve, the best epoch, the steps: as if never stopped
    assert np.array_equal(resumed_prediction, whole_prediction)


def test_a_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    train, val = make_toy_data(n=6, hw=(32, 32), seed=0), make_toy_data(n=4, hw=(32, 32), seed=1)
    checkpoint = tmp_path / "reference.checkpoint.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    seg = make_segmenter(num_classes=3, epochs=1, batch_size=4, lr=3e-3)
    with pytest.raises(AlLoopError, match="reference.checkpoint.pt: not a checkpoint"):
        fit_until_plateau(
            seg,
            train.images,
            train.masks,
            val,
            seed=0,
            patience=2,
            max_epochs=2,
            checkpoint=checkpoint,
        )


def test_every_change_of_weights_moves_the_weights_version():
    """Feature caches (the feature-space annotator's segmenter maps) key on weights_version:
    restoring the best epoch's weights after the last epoch must move it too."""
    train, val = make_toy_data(n=6, hw=(32, 32), seed=0), make_toy_data(n=4, hw=(32, 32), seed=1)
    seg = make_segmenter(num_classes=3, epochs=1, batch_size=4, lr=3e-2)
    seen: dict[int, np.ndarray] = {}
    evaluate = seg.evaluate

    def evaluate_and_record(data):
        seen.setdefault(seg.weights_version, seg.predict_proba(data.images))
        return evaluate(data)

    seg.evaluate = evaluate_and_record
    result = fit_until_plateau(
        seg, train.images, train.masks, val, seed=0, patience=1, max_epochs=8
    )
    assert result["best_epoch"] < result["epochs"]  # the best weights were restored
    final = seg.predict_proba(val.images)
    if seg.weights_version in seen:  # the same version must mean the same weights
        assert np.array_equal(seen[seg.weights_version], final)


@pytest.mark.parametrize("warm_start", [True, False])
def test_a_plateau_fitted_loop_segmenter_goes_on_from_its_last_weights_when_warm(warm_start):
    train, val = make_toy_data(n=6, hw=(32, 32), seed=0), make_toy_data(n=4, hw=(32, 32), seed=1)
    seg = make_segmenter(num_classes=3, epochs=1, batch_size=4, lr=3e-3, warm_start=warm_start)
    resets = []
    reset = seg.reset
    seg.reset = lambda seed: (resets.append(seed), reset(seed))
    fitted = PlateauFitted(seg, val, pool_images=6, patience=1, max_epochs=3)
    first = fitted.fit(train.images, train.masks, seed=0)
    assert 1 <= first["best_epoch"] <= first["epochs"] <= 3 and first["steps"] > 0
    assert fitted.num_classes == 3  # everything but fit is the wrapped segmenter's
    assert fitted.evaluate(val)["miou"] == max(s for _, s in first["val_curve"])
    fitted.fit(train.images, train.masks, seed=1)
    assert resets == ([0] if warm_start else [0, 1])  # a warm run's first fit is a cold one
