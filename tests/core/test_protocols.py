"""The annotator entry points: per-unit annotators keep working, batch annotators get batches."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.core.experiment import Budget, Loop
from al_loop.core.protocols import AnnotationRequest, annotate_units, units_per_call
from al_loop.core.store import LabelStore
from al_loop.core.units import GridUnits
from strategies import make_strategy
from tests.fakes import CentroidSegmenter, OracleAnnotator, make_toy_data


class RecordingBatchAnnotator(OracleAnnotator):
    """The oracle's labels, handed over in batches; records the size of every call."""

    def __init__(self, masks, units_per_call: int):
        super().__init__(masks)
        self.units_per_call = units_per_call
        self.batches: list[int] = []

    def annotate_batch(self, requests):
        self.batches.append(len(requests))
        return [
            self.annotate(r.unit, r.image, r.box, r.unit_mask, r.initial_labels) for r in requests
        ]


def some_requests(data, count):
    space = GridUnits(len(data), data.hw, cell=16)
    return [
        AnnotationRequest(u, data.images[u.image], space.box(u), space.mask(u))
        for u in space.units()[:count]
    ]


def test_a_per_unit_annotator_is_called_once_per_unit():
    data = make_toy_data(2)
    oracle = OracleAnnotator(data.masks)
    out = annotate_units(oracle, some_requests(data, 5))
    assert oracle.calls == 5 and len(out) == 5 and units_per_call(oracle) == 1


def test_a_batch_annotator_is_called_once_per_batch():
    data = make_toy_data(2)
    batch = RecordingBatchAnnotator(data.masks, units_per_call=4)
    out = annotate_units(batch, some_requests(data, 5))
    assert batch.batches == [5] and len(out) == 5 and units_per_call(batch) == 4


def test_a_batch_annotator_must_answer_every_request():
    data = make_toy_data(2)

    class Short(RecordingBatchAnnotator):
        def annotate_batch(self, requests):
            return super().annotate_batch(requests)[:-1]

    with pytest.raises(RuntimeError, match="4 annotations for 5 units"):
        annotate_units(Short(data.masks, 3), some_requests(data, 5))


def run_loop(tmp_path, annotator, data):
    loop = Loop(
        pool=data,
        val=make_toy_data(3, seed=99),
        unit_space=GridUnits(len(data), data.hw, cell=16),
        segmenter=CentroidSegmenter(),
        seed_strategy=make_strategy("random"),
        strategy=make_strategy("entropy"),
        annotator=annotator,
        store=LabelStore(tmp_path / "store.sqlite"),
        checkpoint_dir=tmp_path / "checkpoints",
        budget=Budget(initial_seconds=10.0, round_seconds=12.0, total_seconds=46.0),
        seed=3,
    )
    with loop.store:
        rounds = loop.run()
        return rounds, [(a["image"], a["region"]) for a in loop.store.annotations()]


def test_the_loop_gives_a_batch_annotator_batches_and_keeps_the_budget(tmp_path):
    data = make_toy_data(6)
    per_unit_rounds, per_unit_units = run_loop(tmp_path / "a", OracleAnnotator(data.masks), data)
    batch = RecordingBatchAnnotator(data.masks, units_per_call=4)
    rounds, units = run_loop(tmp_path / "b", batch, data)
    assert max(batch.batches) > 1 and max(batch.batches) <= 4
    assert [r.target_seconds for r in rounds] == [r.target_seconds for r in per_unit_rounds]
    for record in rounds:  # a batch may overshoot its round by at most one batch of units
        assert record.target_seconds <= record.seconds_total < record.target_seconds + 4 * 6.0
    assert len(set(units)) == len(units)  # nothing labelled twice
    assert np.isfinite([r.metrics["miou"] for r in rounds]).all()


class Killed(Exception):
    """Stands in for the process dying in the middle of a batch."""


def test_a_run_killed_during_a_batch_resumes_with_nothing_lost_or_labelled_twice(tmp_path):
    data = make_toy_data(6)

    class DiesOnThirdCall(RecordingBatchAnnotator):
        def annotate_batch(self, requests):
            if len(self.batches) == 2:
                raise Killed
            return super().annotate_batch(requests)

    with pytest.raises(Killed):
        run_loop(tmp_path, DiesOnThirdCall(data.masks, units_per_call=4), data)
    with LabelStore(tmp_path / "store.sqlite") as store:
        stored_before = len(store.annotations())
    assert stored_before > 0

    resumed = RecordingBatchAnnotator(data.masks, units_per_call=4)
    rounds, units = run_loop(tmp_path, resumed, data)  # the loop resumes from its store
    assert len(units) > stored_before and len(set(units)) == len(units)
    assert [r.round for r in rounds] == [0, 1, 2, 3]
    assert all(r.status == "evaluated" for r in rounds)
