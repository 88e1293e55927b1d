"""The loop with fast fake parts: budget accounting, determinism, kill-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from al_loop.core.experiment import Budget, Loop
from al_loop.core.store import FINISHED_META, LabelStore
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


def test_the_loop_marks_its_store_finished_only_when_it_ends(tmp_path):
    loop = make_loop(tmp_path / "budget")
    loop.select_round(0)  # a run that has started but not ended
    assert loop.store.get_meta(FINISHED_META) is None
    rounds = loop.run()
    mark = json.loads(loop.store.get_meta(FINISHED_META))
    assert mark == {"rounds": 4, "seconds": rounds[-1].seconds_total, "ended_by": "budget"}
    exhausted = make_loop(tmp_path / "pool", budget=Budget(10.0, 50.0, 10_000.0), n=2)
    exhausted.run()
    assert json.loads(exhausted.store.get_meta(FINISHED_META))["ended_by"] == "pool exhausted"


def test_the_loop_measures_what_each_round_cost_the_machine(tmp_path):
    rounds = make_loop(tmp_path).run()
    for record in rounds:
        assert record.metrics["round_wall_seconds"] > 0
        assert record.metrics["round_cpu_seconds"] > 0


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
    ("round_index", "spent", "seconds"),
    [
        (1, 100.0, 140.0),  # on schedule: what is left of the cumulative target
        (1, 300.0, 60.0),  # 60 s over round 1's target: half a round, not nothing
        (2, 300.0, 60.0),  # the overspend is still paid back (360 - 300 = 60)
        (3, 300.0, 180.0),  # ... and is repaid: 480 - 300
        (3, 470.0, 30.0),  # never past the total budget (500)
    ],
)
def test_a_round_over_its_target_still_queues_half_a_round(round_index, spent, seconds):
    budget = Budget(initial_seconds=120.0, round_seconds=120.0, total_seconds=500.0)
    assert budget.queue_seconds(round_index, spent) == pytest.approx(seconds)


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


# -- a lost checkpoint is rebuilt; a full disk stops in one line --------------------------------
class StopAt(OracleAnnotator):
    """Interrupts the run (as Ctrl-C would) at its ``stop_at``-th annotation."""

    def __init__(self, masks, stop_at: int):
        super().__init__(masks)
        self.stop_at = stop_at

    def annotate(self, *args, **kwargs):
        if self.calls + 1 == self.stop_at:
            raise KeyboardInterrupt
        return super().annotate(*args, **kwargs)


def interrupted_in_round_2(run_dir: Path) -> int:
    """A run stopped at its first annotation of round 2: rounds 0 and 1 are evaluated and
    ``round_001.pt`` is the only checkpoint. Returns how many units rounds 0-1 labelled."""
    whole = make_loop(run_dir.parent / "probe")
    whole.run()
    before = sum(1 for a in whole.store.annotations() if a["round"] <= 1)
    loop = make_loop(run_dir, annotator=StopAt(make_toy_data(6).masks, before + 1))
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    loop.store.close()
    return before


@pytest.mark.parametrize("damage", ["deleted", "truncated", "overwritten", "empty"])
def test_a_lost_checkpoint_is_rebuilt_from_the_store_and_the_curve_is_unchanged(tmp_path, damage):
    uninterrupted = curve(make_loop(tmp_path / "whole").run())
    interrupted_in_round_2(tmp_path / "run")
    checkpoint = tmp_path / "run" / "checkpoints" / "round_001.pt"
    good = checkpoint.read_bytes()
    if damage == "deleted":
        checkpoint.unlink()
    else:
        bad = {"truncated": good[: len(good) // 2], "overwritten": b"\x00junk" * 9, "empty": b""}
        checkpoint.write_bytes(bad[damage])
    messages = []
    resumed = make_loop(tmp_path / "run")
    resumed.log = messages.append
    assert curve(resumed.run()) == uninterrupted
    warning = next(m for m in messages if m.startswith("warning"))
    assert str(checkpoint) in warning and "rebuilding it from the store" in warning
    assert "\n" not in warning
    # the two rebuilt fits (rounds 0 and 1) then rounds 2 and 3, nothing more
    assert resumed.segmenter.fits == 4


def test_a_readable_checkpoint_is_loaded_not_rebuilt(tmp_path):
    interrupted_in_round_2(tmp_path / "run")
    resumed = make_loop(tmp_path / "run")
    messages = []
    resumed.log = messages.append
    resumed.run()
    assert not any(m.startswith("warning") for m in messages)
    assert resumed.segmenter.fits == 2  # rounds 2 and 3 only


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 1088 vs 1000"),
        OSError(28, "No space left on device"),
    ],
    ids=["torch-enforce-fail", "ENOSPC"],
)
def test_a_full_disk_while_checkpointing_stops_in_one_line_and_resume_repeats_the_curve(
    tmp_path, monkeypatch, error
):
    from al_loop.core.errors import RunDirError

    uninterrupted = curve(make_loop(tmp_path / "whole").run())
    save = CentroidSegmenter.save

    def full_at_round_1(self, path):
        if "round_001" in path:
            Path(path).write_bytes(b"half")  # torch leaves part of the file behind
            raise error
        save(self, path)

    monkeypatch.setattr(CentroidSegmenter, "save", full_at_round_1)
    loop = make_loop(tmp_path / "run")
    with pytest.raises(RunDirError) as raised:
        loop.run()
    message = str(raised.value)
    assert "\n" not in message and "round_001.pt: could not be written" in message
    assert "free some space" in message
    assert [(r.round, r.status) for r in loop.store.rounds()] == [
        (0, "evaluated"),
        (1, "annotated"),
    ]
    loop.store.close()
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["round_000.pt"]
    monkeypatch.setattr(CentroidSegmenter, "save", save)  # space freed
    assert curve(make_loop(tmp_path / "run").run()) == uninterrupted


def test_a_full_disk_in_the_store_stops_in_one_line_and_resume_repeats_the_curve(
    tmp_path, monkeypatch
):
    from al_loop.core.errors import StoreError

    uninterrupted = curve(make_loop(tmp_path / "whole").run())
    finish = LabelStore.finish_round

    def full_at_round_1(self, round_index, metrics):
        if round_index == 1:  # sqlite's own SQLITE_FULL: the file may not grow any more
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            self._conn.execute(f"PRAGMA max_page_count = {pages}")
            metrics = {**metrics, "padding": "x" * 100_000}
        finish(self, round_index, metrics)

    monkeypatch.setattr(LabelStore, "finish_round", full_at_round_1)
    loop = make_loop(tmp_path / "run")
    with pytest.raises(StoreError, match=r"store.sqlite: disk full \(database or disk is full\)"):
        loop.run()
    assert [(r.round, r.status) for r in loop.store.rounds()] == [
        (0, "evaluated"),
        (1, "annotated"),
    ]
    loop.store.close()
    monkeypatch.setattr(LabelStore, "finish_round", finish)
    assert curve(make_loop(tmp_path / "run").run()) == uninterrupted


def test_a_run_stopped_while_its_last_round_trains_evaluates_that_round_on_resume(
    tmp_path, monkeypatch
):
    uninterrupted = curve(make_loop(tmp_path / "whole").run())
    last = uninterrupted[-1][0]
    train = Loop.train_and_evaluate

    def stop_at_the_last_round(self, round_index):
        if round_index == last:
            raise KeyboardInterrupt
        train(self, round_index)

    monkeypatch.setattr(Loop, "train_and_evaluate", stop_at_the_last_round)
    loop = make_loop(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    assert loop.store.last_round().status == "annotated"  # its labels spent the whole budget
    loop.store.close()
    monkeypatch.setattr(Loop, "train_and_evaluate", train)
    assert curve(make_loop(tmp_path / "run").run()) == uninterrupted


class CollapsedSegmenter(CentroidSegmenter):
    """Evaluates like a fit that collapsed onto class 0: nothing else is ever predicted."""

    def evaluate(self, data):
        metrics = super().evaluate(data)
        counts = np.bincount(data.masks[data.masks != 255].ravel(), minlength=self.num_classes)
        confusion = np.zeros((self.num_classes, self.num_classes), np.int64)
        confusion[:, 0] = counts  # every target pixel predicted as class 0
        return {**metrics, "confusion_matrix": confusion.tolist()}


@pytest.mark.parametrize(("segmenter", "warned"), [(CollapsedSegmenter, True), (None, False)])
def test_a_round_whose_model_never_predicts_a_frequent_class_is_flagged(
    tmp_path, segmenter, warned
):
    loop = make_loop(tmp_path)
    if segmenter is not None:
        loop.segmenter = segmenter()
    lines = []
    loop.log = lines.append
    loop.run()
    flagged = [line for line in lines if line.startswith("warning: round")]
    assert bool(flagged) == warned
    if warned:  # every round, naming the classes the toy data has at >= 5 %
        assert len(flagged) == len([line for line in lines if " val mIoU " in line])
        assert "predicts no pixel of class 1, 2 on the validation set" in flagged[0]
