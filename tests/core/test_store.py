import copy

import numpy as np
import pytest

from al_loop.core.config import ExperimentConfig
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


def test_a_key_added_at_its_default_does_not_change_the_run(tmp_path):
    current = ExperimentConfig(seed=3).to_dict()
    older = copy.deepcopy(current)
    del older["annotation"]["context_margin"]  # a version before that key existed
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.bind_config(older)
        store.bind_config(current)
        changed = ExperimentConfig(seed=3, annotation={"context_margin": 4}).to_dict()
        with pytest.raises(StoreError, match="annotation.context_margin"):
            store.bind_config(changed)


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


# -- damaged stores and a full disk: one line naming the file, nothing silently reset ---------
def _store_with_one_round(path):
    with LabelStore(path) as store:
        store.bind_config({"seed": 1})
        store.start_round(0, "random", 3.0, [Unit(0, 0)], NAMES)
        store.add_annotation(store.queued(0)[0].id, 0, _annotation(Unit(0, 0), (0, 0, 2, 2), 1))
        store.close_round(0)
        store.finish_round(0, {"miou": 0.5})
    return path.read_bytes()


def test_an_empty_store_file_is_an_error_not_a_new_store(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"")
    with pytest.raises(StoreError, match=r"store.sqlite: empty file \(0 bytes\).*backup"):
        LabelStore(path)
    assert path.read_bytes() == b""


@pytest.mark.parametrize("damage", ["overwritten", "truncated"])
def test_a_damaged_store_is_named_with_what_to_do(tmp_path, damage):
    path = tmp_path / "store.sqlite"
    good = _store_with_one_round(path)
    bad = b"not a database " * 300 if damage == "overwritten" else good[: len(good) // 3]
    path.write_bytes(bad)
    damaged = r"store.sqlite: damaged or not a label store.*backup"
    with pytest.raises(StoreError, match=damaged), LabelStore(path) as store:
        store.check_integrity()  # a truncated file may open and fail only here
    assert path.read_bytes() == bad


def test_a_full_disk_stops_with_one_line_and_keeps_what_was_stored(tmp_path):
    path = tmp_path / "store.sqlite"
    _store_with_one_round(path)
    big = Unit(1, 0)
    with LabelStore(path) as store:
        store.start_round(1, "entropy", 6.0, [big], NAMES)
        before = store.rounds(), [a["id"] for a in store.annotations()]
        # sqlite's own SQLITE_FULL, the error of a full disk: the file may not grow any more
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        noise = np.random.default_rng(0).integers(0, 250, (400, 400)).astype(np.uint8)
        annotation = UnitAnnotation(big, (0, 0, 400, 400), noise, 3.0, [], "m", "sim")
        with pytest.raises(StoreError, match=r"store.sqlite: disk full .*intact.*free some space"):
            store.add_annotation(store.queued(1)[0].id, 1, annotation)
        assert (store.rounds(), [a["id"] for a in store.annotations()]) == before
        assert [q.unit for q in store.queued(1)] == [big]  # still queued: nothing half-done
    with LabelStore(path) as store:
        store.check_integrity()
        assert len(store.annotations()) == 1


def test_a_reader_opens_a_store_it_may_not_write_and_never_creates_one(tmp_path, monkeypatch):
    path = tmp_path / "store.sqlite"
    good = _store_with_one_round(path)
    with LabelStore(path, read_only=True) as store:
        assert [r.status for r in store.rounds()] == ["evaluated"]
        with pytest.raises(StoreError, match="readonly"):
            store.set_meta("x", "y")
    # a read-only directory (an archive, a read-only mount): no -shm can be made beside it
    monkeypatch.setattr("al_loop.core.store.os.access", lambda path, mode: False)
    with LabelStore(path, read_only=True) as store:
        assert len(store.annotations()) == 1
    assert path.read_bytes() == good
    with pytest.raises(StoreError, match="no label store here"):
        LabelStore(tmp_path / "missing.sqlite", read_only=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_a_new_store_appears_complete_or_not_at_all(tmp_path, monkeypatch):
    import sqlite3

    path = tmp_path / "store.sqlite"
    real_connect = sqlite3.connect

    def killed_while_creating(target, *args, **kwargs):
        conn = real_connect(target, *args, **kwargs)
        if str(target).endswith(".new"):
            raise KeyboardInterrupt  # the instant after sqlite made the (empty) file
        return conn

    monkeypatch.setattr("al_loop.core.store.sqlite3.connect", killed_while_creating)
    with pytest.raises(KeyboardInterrupt):
        LabelStore(path)
    assert not path.exists()  # a later run starts afresh instead of finding an empty store
    monkeypatch.undo()
    with LabelStore(path) as store:
        assert store.rounds() == [] and store.get_meta("schema_version") == "2"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("store.sqlite-")) == [
        "store.sqlite"
    ]


def test_a_kept_queue_is_labelled_on_into_the_next_round_and_replaced_by_its_ranking(tmp_path):
    units = [Unit(0, 0), Unit(0, 1), Unit(1, 0), Unit(1, 1)]
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.start_round(0, "random", 10.0, units, NAMES)
        assert store.labelling_round() == 0
        done = store.lease_next(0, "a")
        store.add_annotation(done.id, 0, _annotation(done.unit, (0, 0, 1, 1), 1, seconds=3.0))
        held = store.lease_next(0, "a")  # the person's current unit when the round closes
        store.close_round(0, keep_queue=True)  # the app: training starts, labelling goes on
        assert store.labelling_round() == 1  # round 0's model never sees what comes now
        during = store.lease_next(0, "b")
        assert during is not None and during.id != held.id
        store.add_annotation(during.id, 1, _annotation(during.unit, (0, 0, 1, 1), 2, 4.0))
        store.finish_round(0, {"miou": 0.5})
        (record,) = store.rounds()
        assert (record.seconds_total, record.n_annotated) == (3.0, 1)  # its own labels only
        assert store.seconds_spent() == 7.0 and store.seconds_spent(max_round=0) == 3.0
        free = {q.unit for q in store.queued(0)} - {held.unit, during.unit}
        assert not free & store.unavailable_units(ranking=1)  # the new ranking may take them
        assert held.unit in store.unavailable_units(ranking=1)
        # the new ranking, made before "b" labelled ``during`` and with a free unit of round 0
        ranked = [during.unit, *free, Unit(2, 0)]
        store.start_round(1, "entropy", 20.0, ranked, NAMES, scores=[3.0, 2.0, 1.0])
        assert [q.unit for q in store.queued(0)] == [held.unit]  # held: kept; the rest dropped
        assert [(q.unit, q.score) for q in store.queued(1)] == [(*free, 2.0), (Unit(2, 0), 1.0)]
        assert store.lease_next(1, "a").id == held.id  # "a" keeps its unit across the rounds
        assert [r.n_annotated for r in store.rounds()] == [1, 1]


def test_check_units_survive_a_new_ranking_and_can_be_leased_apart(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.start_round(0, "random", 10.0, [Unit(0, 0), Unit(1, 0)], NAMES)
        store.extend_round(0, [Unit(2, 0)], NAMES, held_out=True)
        assert store.lease_next(0, "view", held_out=False).unit == Unit(0, 0)
        store.close_round(0, keep_queue=True)
        store.start_round(1, "entropy", 20.0, [Unit(1, 1)], NAMES)
        assert [q.unit for q in store.queued(0)] == [Unit(0, 0), Unit(2, 0)]  # leased, check
        check = store.lease_next(1, "person")
        assert check.held_out and check.unit == Unit(2, 0)  # check units first, any round
        assert store.lease_next(1, "other", held_out=True) is None  # the only one is taken


def test_labelled_pixels_per_class_counts_the_pool_not_the_check_units(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as store:
        store.start_round(0, "random", 10.0, [Unit(0, 0)], NAMES)
        store.extend_round(0, [Unit(2, 0)], NAMES, held_out=True)
        pool, check = store.queued(0)
        mask = np.array([[0, 1], [1, IGNORE]], dtype=np.uint8)
        store.add_annotation(
            pool.id, 0, UnitAnnotation(Unit(0, 0), (0, 0, 2, 2), mask, 3.0, [], "m", "sim")
        )
        store.add_annotation(check.id, 0, _annotation(Unit(2, 0), (0, 0, 2, 2), 2))
        assert store.labelled_pixels_per_class(3).tolist() == [1, 2, 0]


def test_a_store_from_before_wait_seconds_reads_zero_waits_and_gains_the_column(tmp_path):
    import sqlite3

    from al_loop.core.store import SCHEMA, SCHEMA_VERSION

    old_schema = SCHEMA.replace(
        ",\n    wait_seconds REAL NOT NULL DEFAULT 0  -- the app kept the person waiting (not the "
        "budget's)\n",
        "\n",
    )
    assert "wait_seconds" not in old_schema
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(old_schema)
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.execute(
            "INSERT INTO rounds(round, strategy, target_seconds, status, created_at) "
            "VALUES (0, 'random', 10, 'selected', 0)"
        )
        conn.execute(
            "INSERT INTO units(round, image, region, image_name, rank, status) "
            "VALUES (0, 0, 0, 'a', 0, 'annotated')"
        )
        conn.execute(
            "INSERT INTO units(round, image, region, image_name, rank) VALUES (0, 1, 0, 'b', 1)"
        )
        conn.execute(
            "INSERT INTO annotations(unit_id, round, method, annotator, seconds, n_interactions, "
            "interactions, y0, x0, y1, x1, mask, created_at) "
            "VALUES (1, 0, 'polygon', 't', 4.0, 0, '[]', 0, 0, 2, 2, ?, 0)",
            (encode_mask(np.zeros((2, 2), np.uint8)),),
        )
    conn.close()
    with LabelStore(path, read_only=True) as reader:  # nothing written: the default is read
        (row,) = reader.annotations()
        assert row["wait_seconds"] == 0.0 and row["seconds"] == 4.0
    with LabelStore(path) as store:
        (queued,) = store.queued(0)
        mask = np.zeros((2, 2), np.uint8)
        ann = UnitAnnotation(queued.unit, (0, 0, 2, 2), mask, 3.0, [], "polygon", "t", 1.5)
        store.add_annotation(queued.id, 0, ann)
        assert [(r["seconds"], r["wait_seconds"]) for r in store.annotations()] == [
            (4.0, 0.0),
            (3.0, 1.5),
        ]
        assert store.seconds_spent() == 7.0  # the budget counts the person's seconds only
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
