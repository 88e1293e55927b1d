"""The loop with fast fake parts: budget accounting, determinism, kill-and-resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from al_loop.core.experiment import Budget, Loop
from al_loop.core.store import LabelStore
from al_loop.core.units import GridUnits
from strategies import make_strategy
from tests.fakes import CentroidSegmenter, OracleAnnotator, make_toy_data

BUDGET = Budget(initial_seconds=10.0, round_seconds=12.0, total_seconds=46.0)


def make_loop(run_dir: Path, strategy="entropy", budget=BUDGET, annotator=None, n=6) -> Loop:
    data = make_toy_data(n)
    return Loop(
        pool=data,
        val=make_toy_data(3, seed=99),
        unit_space=GridUnits(len(data), data.hw, cell=16),
        segmenter=CentroidSegmenter(),
        seed_strategy=make_strategy("random"),
        strategy=make_strategy(strategy),
        annotator=annotator or OracleAnnotator(data.masks),
        store=LabelStore(run_dir / "store.sqlite"),
        checkpoint_dir=run_dir / "checkpoints",
        budget=budget,
        seed=3,
    )


def curve(rounds):
    return [
        (r.round, r.strategy, r.n_annotated, r.seconds_total, r.metrics["miou"]) for r in rounds
    ]


def selections(store: LabelStore):
    return [(a["round"], a["image"], a["region"]) for a in store.annotations()]


def test_rounds_stop_at_their_budget_targets(tmp_path):
    loop = make_loop(tmp_path)
    rounds = loop.run()
    assert [r.round for r in rounds] == [0, 1, 2, 3]
    assert [r.strategy for r in rounds] == ["random", "entropy", "entropy", "entropy"]
    targets = [10.0, 22.0, 34.0, 46.0]
    max_unit = 2.0 * 3  # the oracle's price for a unit holding all three classes
    for record, target in zip(rounds, targets, strict=True):
        assert record.target_seconds == target
        assert target <= record.seconds_total < target + max_unit
    chosen = selections(loop.store)
    assert len(chosen) == len({c[1:] for c in chosen})  # nothing labelled twice
    assert rounds[-1].metrics["labelled_pixels"] == 16 * 16 * len(chosen)


def test_same_seed_gives_the_same_curve(tmp_path):
    first, second = make_loop(tmp_path / "a"), make_loop(tmp_path / "b")
    assert curve(first.run()) == curve(second.run())
    assert selections(first.store) == selections(second.store)


def test_an_exhausted_pool_ends_the_run_cleanly(tmp_path):
    messages = []
    loop = make_loop(tmp_path, budget=Budget(10.0, 50.0, 10_000.0), n=2)
    loop.log = messages.append
    rounds = loop.run()
    assert sum(r.n_annotated for r in rounds) == 2 * 4  # every cell of both images, once
    assert any("pool exhausted" in m for m in messages)


def test_a_finished_run_resumes_to_the_same_rounds(tmp_path):
    loop = make_loop(tmp_path)
    done = curve(loop.run())
    loop.store.close()
    again = make_loop(tmp_path)
    assert curve(again.run()) == done
    assert again.segmenter.fits == 0  # nothing retrained, the last checkpoint was loaded


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.fakes import OracleAnnotator
    from tests.core.test_experiment import make_loop

    class Killer(OracleAnnotator):
        def annotate(self, *args, **kwargs):
            if self.calls == {kill_after}:
                os.kill(os.getpid(), signal.SIGKILL)  # mid-round, no cleanup at all
            return super().annotate(*args, **kwargs)

    from tests.fakes import make_toy_data
    loop = make_loop(Path({run_dir!r}), annotator=Killer(make_toy_data(6).masks))
    loop.run()
    """
)


@pytest.mark.parametrize("kill_after", [3, 9])
def test_sigkill_mid_round_then_resume_loses_nothing_and_repeats_nothing(tmp_path, kill_after):
    root = str(Path(__file__).resolve().parents[2])
    script = KILLER.format(root=root, kill_after=kill_after, run_dir=str(tmp_path / "killed"))
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with LabelStore(tmp_path / "killed" / "store.sqlite") as store:
        stored_before = selections(store)
    assert len(stored_before) == kill_after  # every accepted annotation survived the kill

    resumed = make_loop(tmp_path / "killed")
    resumed_curve = curve(resumed.run())
    reference = make_loop(tmp_path / "reference")
    assert resumed_curve == curve(reference.run())
    assert selections(resumed.store)[:kill_after] == stored_before
    assert selections(resumed.store) == selections(reference.store)
    assert resumed.annotator.calls == len(selections(reference.store)) - kill_after


def test_checkpoints_keep_only_the_latest_round(tmp_path):
    make_loop(tmp_path).run()
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["round_003.pt"]


def test_budget_targets():
    assert [BUDGET.target(r) for r in range(5)] == [10.0, 22.0, 34.0, 46.0, 46.0]
    assert np.isclose(Budget(5, 5, 12).target(2), 12)


@pytest.mark.parametrize(
    ("budget", "rounds"),
    [
        (Budget(10, 12, 46), 4),
        (Budget(200, 200, 1000), 5),
        (Budget(5, 5, 5), 1),
        (Budget(1, 3, 7), 3),
    ],
)
def test_budget_counts_the_rounds_whose_targets_differ(budget, rounds):
    targets = {budget.target(r) for r in range(100)}
    assert budget.rounds == len(targets) == rounds


class CountingSegmenter(CentroidSegmenter):
    def __init__(self):
        super().__init__()
        self.predicted_images = 0

    def predict_proba(self, images):
        self.predicted_images += len(images)
        return super().predict_proba(images)


class InitialRecorder(OracleAnnotator):
    def __init__(self, masks):
        super().__init__(masks)
        self.initials = []

    def annotate(self, unit, image, box, unit_mask, initial_labels=None):
        self.initials.append(initial_labels)
        return super().annotate(unit, image, box, unit_mask, initial_labels)


def test_the_model_mask_is_offered_and_predicted_once_per_image_and_model(tmp_path):
    loop = make_loop(tmp_path, strategy="random", budget=Budget(10.0, 12.0, 22.0))
    loop.segmenter = CountingSegmenter()
    loop.annotator = InitialRecorder(loop.pool.masks)
    loop.offer_model_mask = True
    loop.run()
    chosen = selections(loop.store)
    round1 = [c for c in chosen if c[0] == 1]
    assert loop.annotator.initials[: len(chosen) - len(round1)] == [None] * (
        len(chosen) - len(round1)
    )
    offered = loop.annotator.initials[len(chosen) - len(round1) :]
    assert offered and all(m is not None and m.shape == loop.pool.hw for m in offered)
    # random ranking needs no predictions, evaluation predicts the val set (3 images) per round
    assert loop.segmenter.predicted_images == len({c[1] for c in round1}) + 3 * 2


class RecordingModelTrainer:
    """An annotation-model trainer that remembers what each update saw."""

    def __init__(self):
        self.updates: list[tuple[int, int]] = []  # (round, labelled pixels)

    def update(self, round_index, images, labels, progress=None):
        assert len(images) == len(labels)
        self.updates.append((round_index, int((labels != 255).sum())))
        return {"annotation_model_round": float(round_index)}


def test_the_annotation_model_retrains_on_each_rounds_labels_and_reloads_on_resume(tmp_path):
    loop = make_loop(tmp_path)
    loop.annotation_trainer = RecordingModelTrainer()
    rounds = loop.run()
    pixels_by_round = [r.metrics["labelled_pixels"] for r in rounds]
    assert loop.annotation_trainer.updates == list(enumerate(pixels_by_round))
    assert [r.metrics["annotation_model_round"] for r in rounds] == [0, 1, 2, 3]
    loop.store.close()

    resumed = make_loop(tmp_path)
    resumed.annotation_trainer = RecordingModelTrainer()
    resumed.run()
    # the finished run only reloads the last round's model, on the labels that round saw
    assert resumed.annotation_trainer.updates == [(3, pixels_by_round[3])]
