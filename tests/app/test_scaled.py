"""Methods on the crop's working copy: interactions scaled in, masks scaled back, undo snapshots."""

import cv2
import numpy as np
import pytest

from app import scaled
from app import session as drafts


def test_work_shape_keeps_the_aspect_and_never_enlarges():
    assert scaled.work_shape((480, 854), 400) == (225, 400)
    assert scaled.work_shape((854, 480), 400) == (400, 225)
    assert scaled.work_shape((64, 64), 400) == (64, 64)


def test_each_method_has_its_side_and_polygons_stay_full_size():
    assert scaled.work_side("watershed_clicks") == scaled.WORK_SIDE
    assert scaled.work_side("grabcut_clicks") == scaled.WORK_SIDES["grabcut_clicks"]
    assert scaled.work_shape((480, 854), scaled.work_side("polygon")) == (480, 854)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "Click", "y": 3, "x": 7, "positive": False}, {"y": 1, "x": 3}),
        (
            {"type": "Box", "y0": 0, "x0": 2, "y1": 8, "x1": 10},
            {"y0": 0, "x0": 1, "y1": 4, "x1": 5},
        ),
        ({"type": "ExtremePoints", "points": [[0, 0], [9, 9]]}, {"points": [[0, 0], [4, 4]]}),
        (
            {"type": "InsideOutside", "corners": [[0, 0], [9, 9]], "inside": [4, 5]},
            {"corners": [[0, 0], [4, 4]], "inside": [2, 2]},
        ),
        ({"type": "Polygon", "vertices": [[1, 1], [6, 6]]}, {"vertices": [[0, 0], [3, 3]]}),
        ({"type": "Scribble", "points": [[2, 3]], "positive": True}, {"points": [[1, 1]]}),
    ],
)
def test_interactions_scale_pixel_centres_into_the_smaller_image(data, expected):
    out = scaled.scale_interaction(data, (10, 10), (5, 5))
    assert out == {**data, **expected}  # the sign and the type are kept


def test_a_point_on_the_last_pixel_stays_inside():
    out = scaled.scale_interaction({"type": "Click", "y": 479, "x": 853}, (480, 854), (144, 256))
    assert (out["y"], out["x"]) == (143, 255)


def test_the_mask_comes_back_at_the_crop_size_with_its_edges():
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    big = scaled.upscale_mask(mask, (8, 8))
    assert big.shape == (8, 8) and big[3:5, 3:5].all() and not big[0].any() and not big[:, 7].any()


def test_a_session_on_the_working_copy_answers_at_the_crop_size():
    crop = np.zeros((90, 160, 3), np.uint8)
    cv2.circle(crop, (80, 45), 20, (255, 255, 255), -1)
    session = scaled.start(drafts.built_method("watershed_clicks"), crop, None, side=80)
    assert session.work_hw == (45, 80)
    mask = session.add({"type": "Click", "y": 45, "x": 80, "positive": True})
    assert mask.shape == (90, 160) and mask[45, 80] and not mask[5, 5]
    inside = np.hypot(*np.mgrid[-45:45, -80:80]) < 20
    assert (mask & inside).sum() / (mask | inside).sum() > 0.8  # the disc, scaled back


def test_a_snapshot_is_not_changed_by_later_adds_on_the_original():
    crop = np.zeros((60, 60, 3), np.uint8)
    crop[20:40, 20:40] = 200
    session = scaled.start(drafts.built_method("grabcut_box"), crop, None)
    session.add({"type": "Box", "y0": 10, "x0": 10, "y1": 50, "x1": 50})
    copy = session.snapshot()
    session.add({"type": "Click", "y": 5, "x": 5, "positive": True})
    assert len(copy._session.clicks) == 0 and len(session._session.clicks) == 1


def test_undo_on_a_live_object_gives_the_replayed_mask():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 60, (48, 64, 3)).astype(np.uint8)
    crop[10:30, 15:45] += 150
    clicks = [
        {"type": "Click", "y": 20, "x": 30, "positive": True},
        {"type": "Click", "y": 40, "x": 5, "positive": False},
        {"type": "Click", "y": 12, "x": 40, "positive": True},
    ]
    live = drafts.LiveObject()
    live.mask(("u", 0), "grabcut_clicks", crop, clicks)
    undone = live.mask(("u", 0), "grabcut_clicks", crop, clicks[:2])
    assert np.array_equal(undone, drafts.object_mask("grabcut_clicks", crop, clicks[:2]))
    redone = live.mask(("u", 0), "grabcut_clicks", crop, clicks)
    assert np.array_equal(redone, drafts.object_mask("grabcut_clicks", crop, clicks))


@pytest.mark.parametrize("name", sorted(scaled.APP_PARAMS))
def test_the_app_builds_a_method_with_its_parameters_unless_told_otherwise(name, monkeypatch):
    method = scaled.app_method(name)
    assert all(getattr(method, k) == v for k, v in scaled.APP_PARAMS[name].items())
    monkeypatch.setenv(scaled.LIBRARY_PARAMS_ENV, "1")  # the benchmark's comparison
    assert scaled.app_params(name) == {}
    library = scaled.app_method(name)
    assert any(getattr(library, k) != v for k, v in scaled.APP_PARAMS[name].items())


def test_undo_on_live_warm_scribbles_gives_the_replayed_mask():
    # the warm, windowed scribbles keep colour models between strokes: an undo must return
    # to the models as they were, not the ones a later stroke learnt
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 60, (60, 90, 3)).astype(np.uint8)
    crop[15:45, 20:60] += 150
    strokes = [
        {"type": "Scribble", "points": [[30, 30], [30, 50]], "positive": True},
        {"type": "Scribble", "points": [[5, 5], [5, 40]], "positive": False},
        {"type": "Scribble", "points": [[20, 25], [40, 25]], "positive": True},
        {"type": "Scribble", "points": [[50, 60], [55, 80]], "positive": False},
    ]
    assert scaled.app_params("scribbles")  # what the app runs differs from the registry's
    live = drafts.LiveObject()
    live.mask(("u", 0), "scribbles", crop, strokes)
    for k in (3, 2, 4):
        mask = live.mask(("u", 0), "scribbles", crop, strokes[:k])
        assert np.array_equal(mask, drafts.object_mask("scribbles", crop, strokes[:k]))
