"""The canvas's Python half: what it draws from, and its events applied to a draft."""

import numpy as np
import pytest

from app import canvas
from app import session as drafts

NOW = 1000.0  # the server's clock; messages are sent at browser time SENT (ms)
SENT = 5_000_000.0


def message(*events, waits=(), unit=7):
    return {"unit": unit, "events": list(events), "waits": list(waits), "sent": SENT}


def gesture(seq, points, positive=True, close=False, ago_ms=(0,)):
    times = [SENT - a for a in ago_ms] if len(ago_ms) == len(points) else [SENT] * len(points)
    return {
        "seq": seq,
        "kind": "gesture",
        "points": points,
        "times": times,
        "positive": positive,
        "close": close,
    }


def timing(interaction: dict) -> tuple:
    return interaction["t0"], interaction["t"], interaction["t1"]


def without_timing(interactions: list[dict]) -> list[dict]:
    return [{k: v for k, v in i.items() if k not in ("t0", "t", "t1")} for i in interactions]


def decode(runs, size):
    return np.repeat(np.asarray(runs["values"], np.uint8), runs["lengths"])[:size]


def test_runs_code_a_label_map_row_major():
    labels = np.array([[0, 0, 2], [2, 2, 0]], np.uint8)
    runs = canvas.runs(labels)
    assert runs == {"values": [0, 2, 0], "lengths": [2, 3, 1]}
    assert np.array_equal(decode(runs, 6), labels.ravel())
    assert canvas.runs(np.zeros((0, 3), np.uint8)) == {"values": [], "lengths": []}


def test_label_map_paints_objects_in_order_as_class_plus_one():
    a, b = np.zeros((2, 2), bool), np.zeros((2, 2), bool)
    a[0] = True
    b[:, 1] = True
    assert canvas.label_map((2, 2), [(0, a), (3, b)]).tolist() == [[1, 4], [0, 4]]


def test_a_click_becomes_an_interaction_at_its_browser_time_and_awaits_its_mask():
    draft = drafts.new_draft("watershed_clicks", 1, now=990.0)
    done = canvas.apply_events(draft, message(gesture(11, [[3, 4]], ago_ms=(500,))), 7, NOW)
    # timed for al-loop costs: from the previous action (the draft's start) to the click
    assert without_timing(draft["current"]) == [{"type": "Click", "y": 3, "x": 4, "positive": True}]
    assert timing(draft["current"][0]) == (990.0, [pytest.approx(999.5)], pytest.approx(999.5))
    assert draft["events"][-1] == pytest.approx(NOW - 0.5)  # sent 0.5 s after the click
    assert done.changed and done.waiting == [(11, pytest.approx(NOW - 0.5))]
    assert draft["seq"] == 11


def test_a_right_click_is_negative_without_changing_the_draft_sign():
    draft = drafts.new_draft("watershed_clicks", 1)
    canvas.apply_events(draft, message(gesture(1, [[3, 4]], positive=False)), 7, NOW)
    assert draft["current"][0]["positive"] is False and draft["positive"] is True


def test_events_already_applied_or_for_another_unit_change_nothing():
    draft = drafts.new_draft("watershed_clicks", 1)
    click = gesture(5, [[1, 1]])
    canvas.apply_events(draft, message(click), 7, NOW)
    again = canvas.apply_events(draft, message(click, gesture(6, [[2, 2]])), 7, NOW)
    assert len(draft["current"]) == 2 and [s for s, _ in again.waiting] == [6]  # resent: once
    other = canvas.apply_events(draft, message(gesture(9, [[3, 3]]), unit=8), 7, NOW)
    assert not other.changed and len(draft["current"]) == 2
    assert not canvas.apply_events(draft, None, 7, NOW).changed


def test_box_corners_arrive_together_and_polygon_vertices_when_it_closes():
    box = drafts.new_draft("grabcut_box", 1, now=990.0)
    canvas.apply_events(box, message(gesture(1, [[9, 2], [1, 8]], ago_ms=(700, 200))), 7, NOW)
    assert without_timing(box["current"]) == [{"type": "Box", "y0": 1, "x0": 2, "y1": 10, "x1": 9}]
    assert timing(box["current"][0]) == (990.0, pytest.approx([999.3, 999.8]), pytest.approx(999.8))
    polygon = drafts.new_draft("polygon", 1, now=990.0)
    square = [[0, 0], [0, 5], [5, 5], [5, 0]]
    vertices = gesture(1, square, close=True, ago_ms=(4000, 3000, 2000, 1000))
    canvas.apply_events(polygon, message(vertices), 7, NOW)
    assert without_timing(polygon["current"]) == [{"type": "Polygon", "vertices": square}]
    assert timing(polygon["current"][0]) == (990.0, [996, 997, 998, 999], 999)
    assert polygon["pending"] == []


def test_a_stroke_is_one_scribble_with_its_sign():
    draft = drafts.new_draft("scribbles", 1)
    stroke = {"seq": 3, "kind": "stroke", "points": [[1, 1], [2, 3]], "times": [SENT - 900, SENT]}
    canvas.apply_events(draft, message({**stroke, "positive": False}), 7, NOW)
    assert without_timing(draft["current"]) == [
        {"type": "Scribble", "points": [[1, 1], [2, 3]], "positive": False}
    ]
    assert draft["current"][0]["t1"] == pytest.approx(NOW)  # released when sent


def test_actions_undo_sign_and_the_page_ones():
    draft = drafts.new_draft("watershed_clicks", 1)
    canvas.apply_events(draft, message(gesture(1, [[1, 1]]), gesture(2, [[2, 2]])), 7, NOW)
    done = canvas.apply_events(
        draft,
        message(
            {"seq": 3, "kind": "action", "name": "undo"},
            {"seq": 4, "kind": "action", "name": "sign", "value": False},
            {"seq": 5, "kind": "action", "name": "accept"},
        ),
        7,
        NOW,
    )
    assert len(draft["current"]) == 1 and draft["positive"] is False
    assert done.page == ["accept"] and [s for s, _ in done.waiting] == [3]  # the sign: no mask


def test_the_browser_measure_of_a_wait_replaces_the_server_estimate():
    draft = drafts.new_draft("watershed_clicks", 1)
    done = canvas.apply_events(draft, message(gesture(1, [[1, 1]])), 7, NOW)
    for seq, sent_at in done.waiting:
        canvas.record_server_wait(draft, seq, sent_at, NOW + 0.2)
    assert canvas.wait_intervals(draft) == [(NOW, pytest.approx(NOW + 0.2))]
    canvas.apply_events(draft, message(waits=[[1, 0.35], [99, 1.0]]), 7, NOW + 5)
    assert canvas.wait_intervals(draft) == [(NOW, pytest.approx(NOW + 0.35))]


def test_canvas_args_say_what_the_next_point_is_part_of():
    draft = drafts.new_draft("grabcut_box", 1)
    crop = np.zeros((4, 6, 3), np.uint8)
    labels = np.zeros((4, 6), np.uint8)
    args = canvas.canvas_args(7, crop, b"jpeg", labels, "k", [(1, 2, 3)], (0, 0, 4, 6), draft, 0)
    assert args["gesture"]["name"] == "box" and args["gesture"]["points"] == 2
    assert args["then"]["name"] == "click"  # a box is corrected with clicks
    assert args["hw"] == [4, 6] and args["acked"] == 0 and args["image"] == b"jpeg"
