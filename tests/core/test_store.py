import numpy as np
import pytest

from al_loop.core.errors import StoreError
from al_loop.core.protocols import UnitAnnotation
from al_loop.core.store import LabelStore, decode_mask, encode_mask
from al_loop.core.units import Unit
from al_loop.data.base import IGNORE

NAMES = ["a", "b", "c"]


def _annotation(unit, box, value, seconds=3.0):
    y0, x0, y1, x1 = box
    mask = np.full((y1 - y0, x1 - x0), value, dtype=np.uint8)
    return UnitAnnotation(unit, box, mask, seconds, [{"type": "Click", "y": 0, "x": 0}], "m", "sim")


def test_mask_png_roundtrip(rng):
    mask = rng.integers(0, 4, size=(7, 9)).astype(np.uint8)
    mask[0, 0] = IGNORE
    assert np.array_equal(decode_mask(encode_mask(mask)), mask)


def test_round_lifecycle_and_label_maps(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.start_round(0, "random", 10.0, [Unit(0, 0), Unit(2, 1)], NAMES)
        queue = store.queued(0)
        assert [q.unit for q in queue] == [Unit(0, 0), Unit(2, 1)]
        store.add_annotation(queue[0].id, 0, _annotation(Unit(0, 0), (0, 0, 2, 2), 1))
        store.close_round(0)
        assert store.queued(0) == []
        store.finish_round(0, {"miou": 0.5})
        (record,) = store.rounds()
        assert (record.status, record.seconds_total, record.n_annotated) == ("evaluated", 3.0, 1)
        labels = store.label_maps(3, (4, 4))
    assert (labels[0, :2, :2] == 1).all()
    assert (labels[0, 2:, :] == IGNORE).all() and (labels[1:] == IGNORE).all()


def test_label_maps_up_to_a_round_leave_out_later_rounds(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.start_round(0, "random", 3.0, [Unit(0, 0)], NAMES)
        store.add_annotation(store.queued(0)[0].id, 0, _annotation(Unit(0, 0), (0, 0, 2, 2), 1))
        store.close_round(0)
        store.finish_round(0, {"miou": 0.5})
        store.start_round(1, "entropy", 6.0, [Unit(1, 0)], NAMES)
        store.add_annotation(store.queued(1)[0].id, 1, _annotation(Unit(1, 0), (0, 0, 2, 2), 2))
        up_to_0 = store.label_maps(3, (4, 4), max_round=0)
        everything = store.label_maps(3, (4, 4))
    assert (up_to_0[0, :2, :2] == 1).all() and (up_to_0[1] == IGNORE).all()
    assert (everything[1, :2, :2] == 2).all()
    assert np.array_equal(everything[0], up_to_0[0])


def test_dropped_units_can_be_chosen_again_but_live_ones_cannot(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.start_round(0, "random", 10.0, [Unit(0, 0), Unit(1, 0)], NAMES)
        first = store.queued(0)[0]
        store.add_annotation(first.id, 0, _annotation(Unit(0, 0), (0, 0, 1, 1), 0))
        store.close_round(0)  # Unit(1, 0) is dropped
        assert store.unavailable_units() == {Unit(0, 0)}
        store.start_round(1, "entropy", 20.0, [Unit(1, 0)], NAMES)
        with pytest.raises(StoreError, match="queued twice"):
            store.extend_round(1, [Unit(0, 0)], NAMES)
        # the failed extension left the round as it was
        assert [q.unit for q in store.queued(1)] == [Unit(1, 0)]


def test_a_unit_is_never_annotated_twice(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.start_round(0, "random", 10.0, [Unit(0, 0)], NAMES)
        q = store.queued(0)[0]
        store.add_annotation(q.id, 0, _annotation(Unit(0, 0), (0, 0, 1, 1), 0))
        with pytest.raises(StoreError, match="not queued"):
            store.add_annotation(q.id, 0, _annotation(Unit(0, 0), (0, 0, 1, 1), 0))
        assert store.seconds_spent() == 3.0


def test_mask_must_fit_its_box(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.start_round(0, "random", 10.0, [Unit(0, 0)], NAMES)
        bad = _annotation(Unit(0, 0), (0, 0, 2, 2), 0)
        bad.box = (0, 0, 3, 3)
        with pytest.raises(StoreError, match="does not fit"):
            store.add_annotation(store.queued(0)[0].id, 0, bad)
        assert store.seconds_spent() == 0.0


def test_config_binding_refuses_another_config(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.bind_config({"seed": 0, "budget": {"total": 10}})
        store.bind_config({"seed": 0, "budget": {"total": 10}})
        with pytest.raises(StoreError, match="budget.total"):
            store.bind_config({"seed": 0, "budget": {"total": 20}})


def test_leases_give_two_owners_different_units(tmp_path):
    path = tmp_path / "s.sqlite"
    with LabelStore(path) as store:
        store.start_round(0, "random", 10.0, [Unit(0, 0), Unit(1, 0)], NAMES)
    with LabelStore(path) as tab1, LabelStore(path) as tab2:
        a = tab1.lease_next(0, "tab1")
        b = tab2.lease_next(0, "tab2")
        assert a.unit != b.unit
        assert tab1.lease_next(0, "tab1").unit == a.unit  # a refresh keeps its unit
        assert tab2.lease_next(0, "tab3", ttl_seconds=60) is None


def test_state_survives_reopening(tmp_path):
    path = tmp_path / "s.sqlite"
    with LabelStore(path) as store:
        store.start_round(0, "random", 10.0, [Unit(0, 0)], NAMES)
        store.add_annotation(
            store.queued(0)[0].id, 0, _annotation(Unit(0, 0), (0, 0, 1, 1), 2, 4.5)
        )
    with LabelStore(path) as store:
        (ann,) = store.annotations()
        assert ann["seconds"] == 4.5 and ann["image_name"] == "a" and ann["mask"][0, 0] == 2
        assert ann["interactions"][0]["type"] == "Click"
