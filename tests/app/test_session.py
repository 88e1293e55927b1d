import numpy as np
import pytest

from al_loop.interactive import METHODS
from app import session as drafts

TIMING = ("t0", "t", "t1")


def untimed(entries: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in TIMING} for e in entries]


def points(draft: dict) -> list:
    return [(e["type"], e.get("positive")) for e in draft["current"]]


def test_clicks_polygon_undo_and_objects():
    draft = drafts.new_draft("watershed_clicks", 1, now=0.0)
    drafts.add_point(draft, 3, 4, now=1.0)
    draft["positive"] = False
    drafts.add_point(draft, 5, 6, now=2.0)
    assert [(c["y"], c["x"], c["positive"]) for c in draft["current"]] == [
        (3, 4, True),
        (5, 6, False),
    ]
    # each interaction is timed from the person's previous action to its completion
    assert [(c["t0"], c["t"], c["t1"]) for c in draft["current"]] == [
        (0.0, [1.0], 1.0),
        (1.0, [2.0], 2.0),
    ]
    drafts.undo(draft, now=3.0)
    assert len(draft["current"]) == 1
    drafts.next_object(draft)
    draft["method"] = "polygon"
    drafts.add_point(draft, 9, 9, now=4.0)
    drafts.undo(draft, now=5.0)  # a vertex taken back: the polygon starts after the undo
    for t, (y, x) in enumerate([(0, 0), (0, 4), (4, 4)], start=6):
        drafts.add_point(draft, y, x, now=float(t))
    assert draft["current"] == [] and len(draft["pending"]) == 3
    drafts.finish_pending(draft, now=10.0)
    assert draft["current"][0] == {
        "type": "Polygon",
        "vertices": [[0, 0], [0, 4], [4, 4]],
        "t0": 5.0,
        "t": [6.0, 7.0, 8.0],
        "t1": 10.0,
    }
    log = drafts.interaction_log(draft)
    assert [(e["object"], e["type"]) for e in log] == [(0, "Click"), (1, "Polygon")]
    assert drafts.method_label(draft) == "polygon+watershed_clicks"
    drafts.reset(draft)
    assert drafts.all_objects(draft) == []


def test_box_corners_in_any_order_make_an_end_exclusive_box():
    assert drafts.box_from_corners([(9, 2), (3, 7)]) == drafts.Box(3, 2, 10, 8)


def test_extreme_points_are_ordered_top_bottom_left_right():
    clicks = [(5, 1), (9, 4), (0, 5), (4, 8)]  # left, bottom, top, right
    assert drafts.order_extreme_points(clicks) == ((0, 5), (9, 4), (5, 1), (4, 8))


def test_extreme_points_complete_on_the_fourth_point_then_clicks_correct():
    draft = drafts.new_draft("extreme_points_grabcut", 1)
    for y, x in [(5, 1), (9, 4), (0, 5)]:
        drafts.add_point(draft, y, x)
    assert draft["current"] == [] and drafts.active_gesture(draft) == "extreme_points"
    drafts.add_point(draft, 4, 8)
    assert untimed(draft["current"]) == [
        {"type": "ExtremePoints", "points": [[0, 5], [9, 4], [5, 1], [4, 8]]}
    ]
    assert drafts.active_gesture(draft) == "click" and draft["pending"] == []
    draft["positive"] = False
    drafts.add_point(draft, 2, 2)
    assert points(draft)[1:] == [("Click", False)]


def test_iog_takes_two_corners_then_the_inside_click():
    draft = drafts.new_draft("iog_grabcut", 2)
    for y, x in [(1, 1), (20, 30), (10, 12)]:
        drafts.add_point(draft, y, x)
    assert untimed(draft["current"]) == [
        {"type": "InsideOutside", "corners": [[1, 1], [20, 30]], "inside": [10, 12]}
    ]


def test_box_then_a_correcting_stroke_after_switching_the_tool():
    draft = drafts.new_draft("grabcut_box", 1)
    drafts.add_point(draft, 2, 3)
    assert drafts.undo(draft)["pending"] == []  # undo takes back a half-drawn box
    drafts.add_point(draft, 2, 3)
    drafts.add_point(draft, 12, 13)
    assert draft["current"][0]["type"] == "Box" and drafts.active_gesture(draft) == "click"
    drafts.set_tool(draft, "stroke")
    drafts.add_point(draft, 5, 5)
    drafts.add_point(draft, 6, 8)
    assert draft["pending"] == [[5, 5], [6, 8]]
    drafts.finish_pending(draft)
    assert untimed(draft["current"])[1] == {
        "type": "Scribble",
        "points": [[5, 5], [6, 8]],
        "positive": True,
    }
    drafts.add_point(draft, 1, 1)
    drafts.set_tool(draft, "click")  # an open stroke is ended, not lost
    assert [e["type"] for e in draft["current"]] == ["Box", "Scribble", "Scribble"]


def test_box_corners_and_a_canvas_stroke_are_timed_from_the_previous_action():
    draft = drafts.new_draft("grabcut_box", 1, now=10.0)
    drafts.add_point(draft, 2, 3, now=12.0)
    drafts.add_point(draft, 12, 13, now=13.5)
    drafts.set_tool(draft, "stroke")
    drafts.add_stroke(draft, [(5, 5), (6, 8)], now=16.0)
    assert [(e["t0"], e["t"], e["t1"]) for e in draft["current"]] == [
        (10.0, [12.0, 13.5], 13.5),
        (13.5, [16.0, 16.0], 16.0),  # the canvas sends a stroke whole, when it ends
    ]
    # an open polygon saved by an earlier app has no times: closed, it is untimed, not wrong
    old = {"method": "polygon", "vertices": [[0, 0], [0, 4], [4, 4]], "events": [1.0]}
    closed = drafts.finish_pending(drafts.normalize_draft(old, "polygon", 1), now=2.0)
    assert closed["current"] == untimed(closed["current"]) and closed["current"][0]["vertices"]


def test_a_canvas_stroke_is_one_scribble_and_only_when_strokes_are_the_gesture():
    draft = drafts.new_draft("scribbles", 1)
    drafts.add_stroke(draft, [(1, 2), (3, 4)])
    assert points(draft) == [("Scribble", True)]
    clicks = drafts.new_draft("watershed_clicks", 1)
    assert drafts.add_stroke(clicks, [(1, 2)])["current"] == []


def test_starting_from_the_model_is_an_object_and_undoable():
    draft = drafts.new_draft("watershed_clicks", 3)
    draft["from_model"] = True
    assert drafts.all_objects(draft) == [
        {"class_id": 3, "method": "watershed_clicks", "from_model": True, "interactions": []}
    ]
    assert drafts.interaction_log(draft) == [
        {"start": "model", "object": 0, "class": 3, "method": "watershed_clicks"}
    ]
    drafts.next_object(draft)
    assert draft["from_model"] is False and len(draft["objects"]) == 1
    drafts.undo(draft)  # reopens the object, its start included
    assert draft["from_model"] is True and draft["objects"] == []
    drafts.undo(draft)
    assert drafts.all_objects(draft) == []


def test_normalize_fills_defaults_and_reads_an_older_open_polygon():
    old = {"method": "polygon", "class_id": 2, "positive": True, "objects": [], "current": []}
    draft = drafts.normalize_draft({**old, "vertices": [[1, 1]], "events": [5.0]}, "x", 1)
    assert draft["pending"] == [[1, 1]] and "vertices" not in draft
    assert draft["class_id"] == 2 and draft["from_model"] is False and draft["events"] == [5.0]
    for garbage in (None, [], {"method": 3}):
        fresh = drafts.normalize_draft(garbage, "grabcut_box", 1)
        assert (fresh["method"], fresh["current"]) == ("grabcut_box", [])


def test_available_methods_need_registration_and_learned_ones_their_weights():
    registered = {"polygon", "ritm_clicks", "dextr"}
    offered = drafts.available_methods(registered, ready=lambda name: name != "ritm_clicks")
    assert [m.method for m in offered] == ["dextr", "polygon"]
    everything = [m.method for m in drafts.available_methods(METHODS)]
    assert {"extreme_points_grabcut", "iog_grabcut", "grabcut_box", "scribbles"} <= set(everything)
    assert all(m.first in drafts.GESTURES for m in drafts.APP_METHODS)
    assert all(set(m.then) <= set(drafts.GESTURES) for m in drafts.APP_METHODS)


def test_parse_points():
    assert drafts.parse_points("10 20; 3,4;") == [(10, 20), (3, 4)]
    with pytest.raises(ValueError, match="two integers"):
        drafts.parse_points("1 2 3")


def test_polygon_replay_fills_the_triangle():
    crop = np.zeros((8, 8, 3), np.uint8)
    draft = drafts.new_draft("polygon", 1)
    for y, x in [(0, 0), (0, 4), (4, 4)]:
        drafts.add_point(draft, y, x)
    drafts.finish_pending(draft)
    mask = drafts.object_mask("polygon", crop, draft["current"])
    assert mask[0, 4] and mask[4, 4] and not mask[4, 0] and not mask[7, 7]


# points on a 32x32 crop with a bright square at [8, 24) that open each gesture
OPENINGS = {
    "click": [(16, 16)],
    "box": [(5, 5), (26, 26)],
    "extreme_points": [(8, 16), (23, 16), (16, 8), (16, 23)],
    "inside_outside": [(5, 5), (26, 26), (16, 16)],
    "polygon": [(8, 8), (8, 23), (23, 23), (23, 8)],
    "stroke": [(12, 12), (16, 16), (20, 20)],
}


# learned methods join when their weights are on the machine (their quality is not the app's)
@pytest.mark.parametrize("spec", drafts.available_methods(METHODS), ids=lambda m: m.method)
def test_every_offered_method_gives_a_mask_from_its_opening_gesture(spec):
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
    crop[8:24, 8:24] = 200
    draft = drafts.new_draft(spec.method, 1)
    for y, x in OPENINGS[spec.first]:
        drafts.add_point(draft, y, x)
    drafts.next_object(draft)
    (obj,) = drafts.all_objects(draft)
    assert len(obj["interactions"]) == 1
    mask = drafts.object_mask(spec.method, crop, obj["interactions"])
    assert mask.shape == (32, 32) and mask.dtype == bool
    if not hasattr(drafts.built_method(spec.method), "load"):  # learned nets: any mask here
        assert mask[16, 16] and not mask[1, 1]


def test_a_correction_starts_from_the_initial_mask():
    crop = np.zeros((16, 16, 3), np.uint8)
    initial = np.zeros((16, 16), bool)
    initial[2:6, 2:6] = True
    square = [{"type": "Polygon", "vertices": [[10, 10], [10, 13], [13, 13], [13, 10]]}]
    assert drafts.object_mask("polygon", crop, [], initial).sum() == 16
    assert drafts.object_mask("polygon", crop, square, initial)[2:6, 2:6].sum() == 0  # replaced


def test_live_object_adds_only_new_interactions_and_restarts_on_undo():
    crop = np.zeros((8, 8, 3), np.uint8)
    square = [[0, 0], [0, 3], [3, 3], [3, 0]]
    first = {"type": "Polygon", "vertices": square}
    second = {"type": "Polygon", "vertices": [[0, 0], [0, 1], [1, 1], [1, 0]]}
    live = drafts.LiveObject()
    assert live.mask(("u", 0), "polygon", crop, [first]).sum() == 16
    assert live.mask(("u", 0), "polygon", crop, [first, second]).sum() == 12  # even-odd hole
    assert live.mask(("u", 0), "polygon", crop, [first]).sum() == 16  # undo: replayed
    assert live.mask(("u", 1), "polygon", crop, [second]).sum() == 4  # another object
    start = np.ones((8, 8), bool)
    assert live.mask(("u", 2), "polygon", crop, [], start).sum() == 64  # the initial mask


def test_the_log_carries_the_apps_waits_inside_each_interaction():
    draft = drafts.new_draft("watershed_clicks", 1, now=0.0)
    drafts.add_point(draft, 1, 1, now=2.0)
    drafts.add_point(draft, 2, 2, now=10.0)
    draft["waits"] = [[1, 2.0, 3.0, "browser"], [2, 10.0, 0.5, "browser"]]  # [seq, start, s, src]
    first, second = drafts.interaction_log(draft)
    assert "waits" not in first  # 0 -> 2: the person's own seconds
    assert second["waits"] == [[2.0, 5.0]]  # 2 -> 10 held a 3 s wait for the first mask
