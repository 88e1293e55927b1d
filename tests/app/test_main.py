"""Streamlit's AppTest drives the pages on a tiny generated project."""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.project import ModelMasks, Project
from tests.app.helpers import make_project

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


@pytest.fixture(autouse=True)
def restore_main_module(monkeypatch):
    """Streamlit's script runner leaves the page script as ``sys.modules["__main__"]``; put the
    real one back, or a later test that spawns processes re-imports the page in its children."""
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])


def start_app(project_dir: Path, monkeypatch, tab: str = "tab1") -> AppTest:
    monkeypatch.setenv("AL_LOOP_PROJECT", str(project_dir))
    app = AppTest.from_file(MAIN, default_timeout=120)
    app.query_params["tab"] = tab
    app.run()
    assert not app.exception, app.exception
    return app


def run(app: AppTest) -> None:
    app.run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]


def type_points(app: AppTest, text: str) -> None:
    """The keyboard path: "y x; y x ..." and Enter."""
    app.text_input(key="typed_point").input(text)
    next(b for b in app.button if b.label == "Add points").click()
    run(app)


def choose(app: AppTest, label: str, value) -> None:
    widget = next(w for w in [*app.selectbox, *app.radio, *app.toggle] if w.label == label)
    widget.set_value(value)
    run(app)


def click(app: AppTest, key: str) -> None:
    app.button(key=key).click()
    run(app)


def captions(app: AppTest) -> str:
    return " ".join(c.value for c in app.caption)


def stored(project_dir: Path) -> list[dict]:
    with Project(project_dir) as project:
        return project.store.annotations()


@pytest.mark.slow
def test_annotate_accept_finish_round_and_see_the_next_one(tmp_path, monkeypatch):
    project_dir = make_project(tmp_path)
    app = start_app(project_dir, monkeypatch)

    # Clicks: typed points (the keyboard path) are stored in the draft at once ...
    type_points(app, "30 30")
    assert "1 interactions" in captions(app)
    # ... so a refresh (a new session, same tab id in the URL) finds them again.
    app = start_app(project_dir, monkeypatch)
    assert "1 interactions" in captions(app)
    click(app, "accept")
    (row,) = stored(project_dir)
    assert row["method"] == "watershed_clicks"
    assert row["interactions"][0] | {"type": "Click", "y": 30, "x": 30} == row["interactions"][0]

    # Polygon on the next unit.
    choose(app, "Method", "Polygon")
    type_points(app, "10 10; 10 50; 50 50; 50 10")
    assert "pending points: 4" in captions(app)
    click(app, "accept")
    rows = stored(project_dir)
    assert [r["method"] for r in rows] == ["watershed_clicks", "polygon"]
    assert int((rows[1]["mask"] == 1).sum()) == 41 * 41

    # Finish the round: trained in a background process; the page stays usable meanwhile.
    click(app, "finish")
    deadline = time.time() + 240
    while json.loads((project_dir / "job.json").read_text())["state"] == "running":
        assert time.time() < deadline, "the round job did not finish"
        time.sleep(1.0)
    status = json.loads((project_dir / "job.json").read_text())
    assert status["state"] == "done", status.get("trace")

    app.sidebar.radio(key="page").set_value("Overview")
    run(app)
    table = app.dataframe[0].value
    assert table["status"].tolist() == ["evaluated", "selected"]
    assert table["units labelled"].tolist() == [2, 0]
    assert 0.0 <= table["mIoU"].iloc[0] <= 1.0

    # Round 1: the trained model's prediction is the starting mask; accepted as it is.
    app.sidebar.radio(key="page").set_value("Annotate")
    run(app)
    choose(app, "Start from the model's prediction", True)
    click(app, "accept")
    row = stored(project_dir)[-1]
    assert row["interactions"] == [
        {"start": "model", "object": 0, "class": 1, "method": "watershed_clicks"}
    ]
    with Project(project_dir) as project:
        unit = project.store.annotations()[-1]
        model = ModelMasks().crop(project, project.unit_space.units()[unit["image"]])
    assert np.array_equal(row["mask"] == 1, model == 1)


# typed points for each method's opening on the 64x64 synthetic image (an object-sized box)
METHOD_CASES = [
    ("Extreme points", "12 32; 52 32; 32 12; 32 52", ["ExtremePoints"]),
    ("Inside-outside (IOG)", "12 12; 52 52; 32 32", ["InsideOutside"]),
    ("Scribbles", "28 28; 32 32; 36 36", ["Scribble"]),
    ("Watershed markers", "28 28; 32 32; 36 36", ["Scribble"]),
]


@pytest.mark.parametrize(
    ("label", "typed", "types"), METHOD_CASES, ids=[c[0] for c in METHOD_CASES]
)
def test_each_method_annotates_a_unit_and_accept_stores_it(
    tmp_path, monkeypatch, label, typed, types
):
    project_dir = make_project(tmp_path)
    app = start_app(project_dir, monkeypatch)
    choose(app, "Method", label)
    type_points(app, typed)
    assert f"{len(types)} interactions" in captions(app)
    click(app, "accept")
    (row,) = stored(project_dir)
    assert [e["type"] for e in row["interactions"]] == types
    assert row["mask"].shape == (64, 64) and (row["mask"] == 1).any()
    assert row["held_out"] == 0 and row["seconds"] >= 0


def test_grabcut_box_then_a_click_and_a_stroke_correct_it(tmp_path, monkeypatch):
    project_dir = make_project(tmp_path)
    app = start_app(project_dir, monkeypatch)
    choose(app, "Method", "GrabCut box")
    type_points(app, "8 8")
    assert "pending points: 1" in captions(app)  # half a box: no interaction yet
    type_points(app, "56 56")
    type_points(app, "32 32")  # corrections are clicks by default ...
    choose(app, "Correct with", "stroke")  # ... or strokes
    choose(app, "Positive (click or stroke)", False)
    type_points(app, "10 10; 10 20")
    click(app, "do_undo")
    type_points(app, "10 10; 10 30")
    click(app, "accept")
    (row,) = stored(project_dir)
    assert row["method"] == "grabcut_box"
    assert [e["type"] for e in row["interactions"]] == ["Box", "Click", "Scribble"]
    assert row["interactions"][2]["points"] == [[10, 10], [10, 30]]
    assert not row["interactions"][2]["positive"]


def test_check_units_are_queued_first_and_stored_as_held_out(tmp_path, monkeypatch):
    project_dir = make_project(tmp_path, with_masks=False)
    app = start_app(project_dir, monkeypatch)
    app.sidebar.radio(key="page").set_value("Overview")
    run(app)
    assert "no ground-truth masks" in app.info[0].value
    app.number_input(key="check_count").set_value(2)
    click(app, "queue_check")
    app.sidebar.radio(key="page").set_value("Annotate")
    run(app)
    assert not app.info  # the tab keeps the unit it holds ...
    click(app, "skipped")
    assert "Check unit" in app.info[0].value  # ... then check units come first
    toggle = next(t for t in app.toggle if t.label == "Start from the model's prediction")
    assert toggle.disabled  # a check unit is labelled without the model's help
    type_points(app, "30 30")
    click(app, "accept")
    (row,) = stored(project_dir)
    assert row["held_out"] == 1
    with Project(project_dir) as project:
        assert project.store.seconds_spent() == 0.0  # the budget counts training labels only
        assert project.store.seconds_spent(held_out=True) == row["seconds"]


def test_two_tabs_annotate_different_units(tmp_path, monkeypatch):
    project_dir = make_project(tmp_path)
    first = captions(start_app(project_dir, monkeypatch, tab="a"))
    second = captions(start_app(project_dir, monkeypatch, tab="b"))
    assert "image" in first and first != second


def test_skip_is_recorded(tmp_path, monkeypatch):
    project_dir = make_project(tmp_path)
    app = start_app(project_dir, monkeypatch)
    click(app, "skipped")
    with Project(project_dir) as project:
        statuses = project.store._conn.execute("SELECT status FROM units").fetchall()
    assert [s[0] for s in statuses].count("skipped") == 1


def test_the_person_labels_on_while_the_round_trains(tmp_path, monkeypatch):
    import os

    project_dir = make_project(tmp_path)
    app = start_app(project_dir, monkeypatch)
    type_points(app, "30 30")
    click(app, "accept")
    with Project(project_dir) as project:  # Finish round, with this process as the job
        project.store.close_round(0, keep_queue=True)
    job = {"state": "running", "round": 0, "phase": "train", "done": 3, "total": 12}
    (project_dir / "job.json").write_text(json.dumps({**job, "pid": os.getpid()}))
    run(app)
    assert "Round 0 is being trained" in captions(app)  # ... and the next unit is served
    assert app.sidebar.get("progress")[0].proto.text == (
        "Round 0: training the segmenter (3/12 steps)"
    )
    type_points(app, "20 20")
    click(app, "accept")
    assert [row["round"] for row in stored(project_dir)] == [0, 1]  # round 0's model: not it


def test_overview_draws_a_single_round_as_a_visible_point(tmp_path, monkeypatch):
    project_dir = make_project(tmp_path)
    with Project(project_dir) as project:
        project.store.close_round(0)
        project.store.finish_round(0, {"miou": 0.4, "per_class_iou": [0.5, 0.3]})
    app = start_app(project_dir, monkeypatch)
    app.sidebar.radio(key="page").set_value("Overview")
    run(app)
    curve, _per_class = app.get("vega_lite_chart")
    spec = json.loads(curve.proto.spec)
    assert spec["mark"] == {"type": "line", "point": True}  # one point, drawn as a marker
    assert spec["encoding"]["y"]["field"] == "miou"


def test_export_keeps_the_typed_name_and_refuses_one_leaving_exports(tmp_path, monkeypatch):
    project_dir = make_project(tmp_path)
    app = start_app(project_dir, monkeypatch)
    app.sidebar.radio(key="page").set_value("Export")
    run(app)
    default = app.text_input(key="export_name").value
    run(app)
    assert app.text_input(key="export_name").value == default  # not a new time per rerun
    before = sorted(project_dir.rglob("*"))
    app.text_input(key="export_name").input("../data/masks")
    app.button(key="export").click()
    app.run()
    assert "export name '../data/masks': must name a folder inside" in app.error[0].value
    assert sorted(project_dir.rglob("*")) == before
    app.text_input(key="export_name").input("mine")
    click(app, "export")
    assert (project_dir / "exports" / "mine" / "coco.json").is_file()
