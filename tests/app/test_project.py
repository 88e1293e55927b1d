import json
import math
import os
import sqlite3

import cv2
import numpy as np
import pytest

from al_loop.core.errors import DataError, StoreError
from al_loop.core.protocols import UnitAnnotation
from al_loop.core.store import SCHEMA, LabelStore
from al_loop.core.units import Unit
from al_loop.data import load_folder, make_synthetic, write_folder
from al_loop.data.base import IGNORE, ClassInfo, SegmentationData
from app.project import (
    ModelMasks,
    Project,
    _ScoredOnCheckSet,
    active_seconds,
    coco_json,
    create_project,
    inside,
    metric_curve,
    unit_labels,
    waiting_seconds,
)
from app.round_job import run_round_job
from tests.app.helpers import TINY_CONFIG, make_project


def test_active_seconds_caps_idle_gaps():
    assert active_seconds([0.0, 10.0, 100.0, 105.0], cap=30.0) == pytest.approx(45.0)
    assert active_seconds([5.0]) == 0.0


def test_the_apps_waits_are_taken_out_of_the_active_seconds_before_the_idle_cap():
    events = [0.0, 10.0, 100.0, 105.0]
    waits = [(1.0, 3.0), (2.0, 4.0), (101.0, 104.5), (200.0, 210.0)]  # overlapping ones merge
    # gaps: 10 less 3 (waits 1-4), 90 capped at 30, 5 less 3.5; the last wait is after the end
    assert active_seconds(events, cap=30.0, waits=waits) == pytest.approx(7.0 + 30.0 + 1.5)
    assert waiting_seconds(events, waits) == pytest.approx(3.0 + 3.5)
    assert waiting_seconds([1.0], waits) == 0.0


def test_accept_stores_the_waits_apart_from_the_seconds(tmp_path):
    with Project(make_project(tmp_path)) as project:
        queued = project.lease("tab")
        mask = np.ones((64, 64), bool)
        project.accept(queued, [(1, mask)], 6.0, [], "polygon", "person:t", wait_seconds=2.5)
        (row,) = project.store.annotations()
        assert (row["seconds"], row["wait_seconds"]) == (6.0, 2.5)
        assert project.store.seconds_spent() == 6.0


def test_unit_labels_paints_objects_in_order_and_ignores_outside_the_unit():
    unit_mask = np.array([[True, True], [True, False]])
    first, second = np.array([[1, 1], [0, 0]], bool), np.array([[0, 1], [0, 0]], bool)
    labels = unit_labels(unit_mask, [(2, first), (3, second)])
    assert labels.tolist() == [[2, 3], [0, IGNORE]]


@pytest.mark.parametrize("escape", ["../outside", "/etc/passwd", "data/../../x"])
def test_paths_cannot_escape_the_project(tmp_path, escape):
    with pytest.raises(DataError, match="outside the project"):
        inside(tmp_path / "p", escape)
    assert inside(tmp_path / "p", "data", "images") == (tmp_path / "p/data/images").resolve()


def test_config_root_outside_the_project_is_refused(tmp_path):
    project_dir = make_project(tmp_path)
    config = (project_dir / "project.yaml").read_text().replace("root: data", "root: ../source")
    (project_dir / "project.yaml").write_text(config)
    with pytest.raises(DataError, match="outside the project"):
        Project(project_dir)


def test_create_refuses_an_existing_project_and_an_empty_folder(tmp_path):
    project_dir = make_project(tmp_path)
    with pytest.raises(DataError, match="exists"):
        create_project(project_dir, tmp_path / "source" / "images")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        create_project(tmp_path / "other", tmp_path / "empty")


def test_two_tabs_never_lease_the_same_unit_and_a_tab_keeps_its_own(tmp_path):
    with Project(make_project(tmp_path)) as project:
        first, second = project.lease("tab-a"), project.lease("tab-b")
        assert first.id != second.id
        assert project.lease("tab-a").id == first.id  # a refresh gets the same unit back


def test_accept_stores_labels_inside_the_unit_and_drops_the_draft(tmp_path):
    with Project(make_project(tmp_path)) as project:
        queued = project.lease("tab")
        project.save_draft(queued.id, {"current": [1]})
        mask = np.zeros((64, 64), bool)
        mask[5:10, 5:10] = True
        project.accept(queued, [(2, mask)], 12.5, [{"type": "Click"}], "polygon", "person:t")
        (row,) = project.store.annotations()
        assert row["seconds"] == 12.5 and row["method"] == "polygon"
        assert int((row["mask"] == 2).sum()) == 25 and int((row["mask"] == 0).sum()) == 64 * 64 - 25
        assert project.load_draft(queued.id) is None
        with pytest.raises(StoreError):  # never labelled twice
            project.accept(queued, [(2, mask)], 1.0, [], "polygon", "person:t")


def test_skip_and_flag_leave_the_queue(tmp_path):
    with Project(make_project(tmp_path)) as project:
        a, b = project.lease("x"), project.lease("y")
        project.set_status(a, "skipped")
        project.set_status(b, "flagged")
        assert {q.id for q in project.store.queued(0)}.isdisjoint({a.id, b.id})


@pytest.mark.slow
def test_round_job_trains_scores_the_check_set_and_queues_the_next_round_then_exports(tmp_path):
    project_dir = make_project(tmp_path, with_masks=False)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    with Project(project_dir) as project:
        assert not project.has_ground_truth
        assert project.queue_check_units(1) == 1
        check = project.lease("checker")
        assert check.held_out
        project.accept(check, [(1, mask)], 5.0, [], "polygon", "person:c")
        queued = project.lease("tab")
        assert not queued.held_out
        project.accept(queued, [(1, mask)], 3.0, [], "polygon", "person:t")
        project.store.close_round(0)
    status = run_round_job(project_dir)
    assert status["state"] == "done", status.get("trace")
    with Project(project_dir) as project:
        rounds = project.store.rounds()
        assert [r.status for r in rounds] == ["evaluated", "selected"]
        metrics = rounds[0].metrics
        assert math.isnan(metrics["miou"]) and 0.0 <= metrics["check_miou"] <= 1.0
        assert (metrics["check_images"], metrics["check_pixels"]) == (1, 64 * 64)
        assert metrics["labelled_images"] == 1  # the check unit never trained the model
        assert rounds[0].seconds_total == 3.0 and rounds[0].n_annotated == 1
        assert project.latest_checkpoint() is not None
        masks = ModelMasks()
        crop = masks.crop(project, queued.unit)
        assert crop.shape == (64, 64) and crop.dtype == np.uint8
        masks._segmenter.predict = None  # a second unit of the image: no forward pass
        assert masks.crop(project, queued.unit) is not None
        dest = project.export("e1")
    exported = load_folder(dest)
    assert exported.names == [project.pool.names[queued.unit.image]]  # training labels only
    coco = json.loads((dest / "coco.json").read_text())
    assert [a["bbox"] for a in coco["annotations"]] == [[20, 20, 20, 20]]
    with pytest.raises(DataError, match="must name a folder inside"):
        Project(project_dir).export("../../escape")


def test_coco_json_has_one_annotation_per_region(tmp_path):
    data = load_folder(make_project(tmp_path) / "data")
    coco = coco_json(data)
    assert len(coco["images"]) == len(data)
    assert {a["category_id"] for a in coco["annotations"]} <= set(range(1, data.num_classes))


def test_check_units_come_first_train_nothing_and_cost_no_budget(tmp_path):
    with Project(make_project(tmp_path)) as project:
        assert project.queue_check_units(2) == 2
        first, second, third = (project.lease(tab) for tab in "abc")
        assert (first.held_out, second.held_out, third.held_out) == (True, True, False)
        labels = np.ones((64, 64), bool)
        for q, seconds in ((first, 4.0), (third, 1.5)):
            project.accept(q, [(2, labels)], seconds, [], "polygon", "person:t")
        store, n, hw = project.store, len(project.pool), project.pool.hw
        assert (store.label_maps(n, hw) == 2).sum() == 64 * 64  # only the training unit
        assert (store.label_maps(n, hw, held_out=True)[first.unit.image] == 2).all()
        assert (store.seconds_spent(), store.seconds_spent(held_out=True)) == (1.5, 4.0)
        check = project.check_set()
        assert check.names == [project.pool.names[first.unit.image]] and (check.masks == 2).all()


def test_without_an_open_round_no_check_units(tmp_path):
    with Project(make_project(tmp_path)) as project:
        project.store.close_round(0)
        with pytest.raises(StoreError, match="no open round"):
            project.queue_check_units(1)


class FixedSegmenter:
    """Predicts class 1 on the left half; its evaluate() is confusion-based like the real one."""

    def evaluate(self, data: SegmentationData) -> dict:
        pred = np.zeros(data.masks.shape, np.uint8)
        pred[..., : data.masks.shape[-1] // 2] = 1
        known = data.masks != IGNORE
        ious = []
        for c in range(data.num_classes):
            union = ((pred == c) | (data.masks == c)) & known
            inter = (pred == c) & (data.masks == c) & known
            ious.append(inter.sum() / union.sum() if union.any() else math.nan)
        return {"miou": float(np.nanmean(ious)), "per_class_iou": ious}


def test_the_check_set_score_is_agreement_with_the_held_out_labels():
    classes = [ClassInfo("background", (0, 0, 0)), ClassInfo("object", (255, 0, 0))]
    images = np.zeros((1, 2, 4, 3), np.uint8)
    masks = np.array([[[1, 1, 1, 0], [IGNORE, IGNORE, 0, 0]]], np.uint8)
    check = SegmentationData(["a"], images, masks, classes, "check")
    pool = SegmentationData(["b"], images, None, classes, "pool")
    scored = _ScoredOnCheckSet(FixedSegmenter(), lambda: check, has_ground_truth=False)
    metrics = scored.evaluate(pool)
    # scored on the 6 labelled pixels: class 1 IoU 2/3 (2 agree, 3 in the union), class 0 3/4
    assert math.isnan(metrics["miou"]) and metrics["check_miou"] == pytest.approx(
        (2 / 3 + 3 / 4) / 2
    )
    assert (metrics["check_images"], metrics["check_pixels"]) == (1, 6)
    assert "check_miou" not in _ScoredOnCheckSet(FixedSegmenter(), lambda: None, False).evaluate(
        pool
    )


def test_metric_curves_on_a_hand_made_store(tmp_path):
    with LabelStore(tmp_path / "store.sqlite") as store:
        names = [f"i{k}" for k in range(4)]
        for r, check in enumerate([0.4, None, 0.7]):
            store.start_round(r, "random", 10.0 * (r + 1), [Unit(r, 0)], names)
            (queued,) = store.queued(r)
            mask = np.zeros((2, 2), np.uint8)
            store.add_annotation(
                queued.id,
                r,
                UnitAnnotation(Unit(r, 0), (0, 0, 2, 2), mask, 2.0, [], "polygon", "t"),
            )
            store.close_round(r)
            metrics = {"miou": math.nan} | ({} if check is None else {"check_miou": check})
            store.finish_round(r, metrics | {"check_images": r + 1})
        store.start_round(3, "random", 40.0, [Unit(3, 0)], names)  # open: not on the curve
        rounds = store.rounds()
    assert metric_curve(rounds, "check_miou") == [
        {"round": 0, "seconds": 2.0, "check_miou": 0.4, "check images": 1},
        {"round": 2, "seconds": 6.0, "check_miou": 0.7, "check images": 3},
    ]
    assert metric_curve(rounds, "miou") == []  # NaN: no ground truth


def test_a_version_1_store_is_migrated_keeping_its_labels(tmp_path):
    path = tmp_path / "old.sqlite"
    old_schema = SCHEMA.replace(
        ",\n    held_out INTEGER NOT NULL DEFAULT 0  -- 1: a check unit, scored against, never "
        "trained on\n",
        "\n",
    )
    assert "held_out" not in old_schema
    with sqlite3.connect(path) as conn:
        conn.executescript(old_schema)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO rounds(round, strategy, target_seconds, status, created_at) "
            "VALUES (0, 'random', 10, 'selected', 0)"
        )
        conn.execute(
            "INSERT INTO units(round, image, region, image_name, rank) VALUES (0, 1, 0, 'b', 0)"
        )
    conn.close()
    with LabelStore(path) as store:
        (queued,) = store.queued(0)
        assert store.get_meta("schema_version") == "2" and not queued.held_out
        mask = np.full((2, 2), 3, np.uint8)
        store.add_annotation(
            queued.id, 0, UnitAnnotation(queued.unit, (0, 0, 2, 2), mask, 1.0, [], "polygon", "t")
        )
        assert (store.label_maps(2, (2, 2))[1] == 3).all() and store.seconds_spent() == 1.0
    with LabelStore(path) as again:  # opening it again changes nothing
        assert again.get_meta("schema_version") == "2" and len(again.annotations()) == 1


def test_the_view_draft_is_per_tab_and_its_path_never_comes_from_the_url(tmp_path):
    with Project(make_project(tmp_path)) as project:
        project.save_view_draft("../../../etc/x", {"log": [1]})
        assert project.load_view_draft("../../../etc/x") == {"log": [1]}
        assert project.load_view_draft("another tab") is None
        (path,) = (project.project_dir / "drafts").glob("view_*.json")  # the only file written
        assert "etc" not in path.name and not list(tmp_path.rglob("x"))
        project.drop_view_draft("../../../etc/x")
        assert project.load_view_draft("../../../etc/x") is None


def test_the_round_job_retrains_the_learned_method_and_the_app_annotates_with_it(tmp_path):
    from app import session as drafts
    from tests.interactive.learned_fakes import tiny_weights

    weights = tiny_weights(tmp_path, "click")
    source = write_folder(make_synthetic(10, (64, 64), seed=0), tmp_path / "source")
    config = {
        **TINY_CONFIG,
        "annotation": {
            "method": "ritm_clicks",
            "params": {"weights": str(weights)},
            "retrain": {"steps": 1, "batch_size": 2, "min_object_pixels": 8},
        },
    }
    project_dir = create_project(
        tmp_path / "project", source / "images", source / "masks", config, source / "classes.yaml"
    )
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    with Project(project_dir) as project:
        queued = project.lease("tab")
        project.accept(queued, [(1, mask)], 3.0, [], "ritm_clicks", "person:t")
        project.store.close_round(0)
    status = run_round_job(project_dir)
    assert status["state"] == "done", status.get("trace")
    retrained = project_dir / "interactive" / "ritm_clicks_round_000.pt"
    with Project(project_dir) as project:
        assert project.store.rounds()[0].metrics["annotation_model_steps"] == 1
    assert retrained.is_file()
    try:
        drafts.use_retrained(project_dir, "ritm_clicks")
        assert drafts.built_method("ritm_clicks").weights == retrained
    finally:
        drafts.built_method.cache_clear()  # other tests get the method as registered
        drafts.method_ready.cache_clear()


def test_cost_aware_selects_in_an_app_project_as_in_a_simulated_run(tmp_path):
    """The app gets its loop from the same builder as al-loop run, cost predictor included."""
    source = write_folder(make_synthetic(10, (64, 64), seed=0), tmp_path / "source")
    config = {**TINY_CONFIG, "strategy": {"name": "cost_aware", "params": {"base": "entropy"}}}
    project_dir = create_project(
        tmp_path / "project", source / "images", source / "masks", config, source / "classes.yaml"
    )
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    with Project(project_dir) as project:
        for seconds in (3.0, 9.0):  # two measured costs for the predictor to fit
            project.accept(project.lease("tab"), [(1, mask)], seconds, [], "polygon", "person:t")
        project.store.close_round(0)
    status = run_round_job(project_dir)
    assert status["state"] == "done", status.get("trace")
    with Project(project_dir) as project:
        rounds = project.store.rounds()
        assert [r.status for r in rounds] == ["evaluated", "selected"]
        assert rounds[1].strategy == "entropy_per_second"
        assert project.store.queued(1)


def test_a_second_round_job_is_refused_and_leaves_the_first_ones_status(tmp_path):
    from al_loop.core.errors import RunDirError
    from al_loop.core.lock import DirectoryLock

    project_dir = make_project(tmp_path)  # round 0 selected
    job = project_dir / "job.json"
    job.write_text('{"state": "running", "pid": 1}')  # the first job's
    with DirectoryLock(project_dir, "project"):  # the first job holds the project
        status = run_round_job(project_dir)
        assert status["state"] == "refused"
        assert f"this project is in use by another process (pid {os.getpid()})" in status["error"]
        assert job.read_text() == '{"state": "running", "pid": 1}'
        job.unlink()  # as if its process had died without a word, yet it holds the lock
        with Project(project_dir) as project, pytest.raises(RunDirError, match="in use"):
            project.start_finish_round()
        with Project(project_dir) as project:
            assert project.open_round() == 0  # the round was not closed


@pytest.mark.parametrize("name", ["../data/masks", "..", "", "  ", "/tmp/x", "a/../../store"])
def test_export_names_that_leave_exports_are_refused_and_the_project_is_untouched(tmp_path, name):
    project_dir = make_project(tmp_path)
    before = sorted(p.relative_to(project_dir) for p in project_dir.rglob("*"))
    with Project(project_dir) as project, pytest.raises(DataError, match="export name") as err:
        project.export(name)
    assert "\n" not in str(err.value)
    assert sorted(p.relative_to(project_dir) for p in project_dir.rglob("*")) == before
    Project(project_dir).close()  # still opens


def test_export_keeps_the_typed_name_and_refuses_to_overwrite(tmp_path):
    with Project(make_project(tmp_path)) as project:
        dest = project.export("team/first")
        assert dest == (project.project_dir / "exports/team/first")
        assert (dest / "coco.json").is_file()
        with pytest.raises(DataError, match="exists already"):
            project.export("team/first")


def _instance_masks(tmp_path):
    """Images whose masks number instances (0, 1, 2) in three equal channels, as DAVIS."""
    source = write_folder(make_synthetic(8, (32, 32), seed=0), tmp_path / "src")
    for path in sorted((source / "masks").glob("*.png")):
        mask = np.zeros((32, 32), np.uint8)
        mask[2:10, 2:10], mask[20:30, 20:30] = 1, 2
        cv2.imwrite(str(path), np.dstack([mask] * 3))
    return source


def test_instance_masks_fail_in_one_line_naming_binary_and_leave_no_project(tmp_path):
    source = _instance_masks(tmp_path)
    classes = tmp_path / "classes.yaml"
    classes.write_text(
        "- {name: background, color: [0, 0, 0]}\n- {name: object, color: [255, 0, 0]}\n"
    )
    with pytest.raises(DataError, match="unknown class id 2.*--binary") as err:
        create_project(tmp_path / "p", source / "images", source / "masks", TINY_CONFIG, classes)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "p").exists()
    (tmp_path / "kept").mkdir()  # a folder that existed keeps what it held, and only that
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    with pytest.raises(DataError):
        create_project(tmp_path / "kept", source / "images", source / "masks", TINY_CONFIG, classes)
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["notes.txt"]


def test_binary_makes_every_non_zero_mask_pixel_the_object(tmp_path):
    source = _instance_masks(tmp_path)
    project_dir = create_project(
        tmp_path / "p", source / "images", source / "masks", TINY_CONFIG, binary=True
    )
    data = load_folder(project_dir / "data")
    assert [c.name for c in data.classes] == ["background", "object"]
    expected = np.zeros((32, 32), np.uint8)
    expected[2:10, 2:10] = expected[20:30, 20:30] = 1
    assert all(np.array_equal(m, expected) for m in data.masks)
    with Project(project_dir) as project:
        assert project.open_round() == 0


def test_a_round_whose_job_failed_can_be_trained_again_and_its_queue_is_labelled_on(tmp_path):
    with Project(make_project(tmp_path)) as project:
        assert project.retry_round() is None  # round 0 is open
        project.store.close_round(0, keep_queue=True)  # Finish round; then the job failed
        (project.project_dir / "job.json").write_text('{"state": "failed", "error": "x"}')
        assert project.open_round() is None and project.retry_round() == 0
        queued = project.lease("tab")  # labelling goes on meanwhile
        project.accept(queued, [(1, np.ones((64, 64), bool))], 2.0, [], "polygon", "person:t")
        assert project.store.annotations()[-1]["round"] == 1
