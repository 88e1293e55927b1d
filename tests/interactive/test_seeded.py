import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.interactions import Box, Click, ExtremePoints, InsideOutside, Scribble
from al_loop.core.metrics import binary_iou
from al_loop.interactive import make_method, seeded
from al_loop.interactive.seeded import box_of, frame_inside, outside_box, paint_strokes
from tests.interactive.test_methods import disc_scene

BOX_METHODS = {
    "grabcut_box": Box(14, 22, 47, 55),
    "extreme_points_grabcut": ExtremePoints(((15, 38), (45, 38), (30, 23), (30, 53))),
    "iog_grabcut": InsideOutside(((13, 21), (47, 55)), (30, 38)),
}
SCRIBBLE_METHODS = ["scribbles", "watershed_markers"]
# every scribble method, and scribbles warm-started, and warm in a window (as the app runs it)
WARM = {"warm_iterations": 1}
WINDOWED = {"warm_iterations": 1, "local_margin": 0.15}
SCRIBBLE_VARIANTS = [(n, {}) for n in SCRIBBLE_METHODS] + [
    ("scribbles", WARM),
    ("scribbles", WINDOWED),
]


def test_box_of_grows_clips_and_is_end_exclusive():
    assert box_of([(2, 3), (5, 9)], (10, 10), 0) == (2, 3, 6, 10)
    assert box_of([(2, 3), (5, 9)], (10, 10), 4) == (0, 0, 10, 10)
    outside = outside_box((4, 4), (1, 1, 3, 3))
    assert outside.sum() == 12 and not outside[1:3, 1:3].any()


def test_strokes_are_painted_as_connected_polylines():
    canvas = np.zeros((10, 10), np.uint8)
    paint_strokes(canvas, [Scribble(((2, 1), (2, 8)), True)], 1, 1, 2)
    assert canvas[2, 1:9].all() and canvas.sum() == 8
    paint_strokes(canvas, [Scribble(((2, 4),), False)], 1, 1, 2)
    assert canvas[2, 4] == 2  # later strokes win


@pytest.mark.parametrize("name", sorted(BOX_METHODS))
def test_opening_segments_the_disc_and_nothing_outside_the_box(name):
    image, gt = disc_scene()
    mask = make_method(name).start(image).add(BOX_METHODS[name])
    assert binary_iou(mask, gt) >= 0.9
    assert not mask[:5].any() and not mask[:, :10].any()


@pytest.mark.parametrize("name", sorted(BOX_METHODS))
def test_opening_replaces_the_initial_mask_and_clicks_refine(name):
    image, gt = disc_scene()
    initial = np.zeros_like(gt)
    initial[:10, :10] = True  # wrong: the person draws the object anew
    session = make_method(name).start(image, initial)
    mask = session.add(BOX_METHODS[name])
    assert not mask[:10, :10].any()
    after = session.add(Click(30, 38, positive=False))
    assert not after[30, 38]  # a negative click is a definite background seed


def test_a_positive_click_outside_the_box_reopens_the_frame():
    image, gt = disc_scene()
    session = make_method("grabcut_box").start(image)
    session.add(Box(14, 22, 30, 55))  # cuts the lower half of the disc off
    mask = session.add(Click(40, 38, positive=True))
    assert mask[40, 38] and mask[35:44, 38].all()


@pytest.mark.parametrize("name", sorted(BOX_METHODS))
def test_box_methods_reject_bad_input(name):
    image, _ = disc_scene()
    session = make_method(name).start(image)
    with pytest.raises(ValueError, match="outside image"):
        session.add(InsideOutside(((0, 0), (200, 10)), (5, 5)))
    with pytest.raises(ValueError, match="four extreme points"):
        session.add(ExtremePoints(((1, 1), (2, 2), (3, 3))))
    with pytest.raises(ValueError, match="outside image"):
        session.add(Click(-1, 5))
    with pytest.raises(TypeError, match="Click"):
        session.add("not an interaction")


@pytest.mark.parametrize(("name", "params"), SCRIBBLE_VARIANTS)
def test_scribble_methods_follow_the_strokes(name, params):
    image, gt = disc_scene()
    session = make_method(name, **params).start(image)
    mask = session.add(Scribble(((30, 30), (30, 46)), True))
    assert binary_iou(mask, gt) >= 0.9
    assert mask[30, 30:47].all()
    mask = session.add(Scribble(((20, 30), (40, 30)), False))
    assert not mask[20:41, 30].any()  # definite background where the stroke went


@pytest.mark.parametrize(("name", "params"), SCRIBBLE_VARIANTS)
def test_scribble_methods_correct_an_initial_mask(name, params):
    image, gt = disc_scene()
    initial = gt.copy()
    initial[5:15, 60:75] = True  # a false positive blob far from the disc
    session = make_method(name, **params).start(image, initial)
    mask = session.add(Scribble(((8, 62), (8, 72), (12, 72)), False))
    assert binary_iou(mask, gt) > binary_iou(initial, gt)
    assert not mask[8, 62:73].any()


@pytest.mark.parametrize(("name", "params"), SCRIBBLE_VARIANTS)
def test_scribble_methods_reject_bad_input(name, params):
    image, _ = disc_scene()
    session = make_method(name, **params).start(image)
    with pytest.raises(ValueError, match="outside image"):
        session.add(Scribble(((5, 5), (5, 500)), True))
    with pytest.raises(ValueError, match="at least one point"):
        session.add(Scribble((), True))
    with pytest.raises(TypeError, match="Scribble"):
        session.add(Click(5, 5))


def test_only_negative_strokes_give_an_empty_mask():
    image, _ = disc_scene()
    for name, params in SCRIBBLE_VARIANTS:
        session = make_method(name, **params).start(image)
        assert not session.add(Scribble(((5, 5), (5, 20)), False)).any()
        assert not session.add(Scribble(((60, 5), (60, 20)), False)).any()


def test_frame_inside_is_the_window_edge_within_the_image():
    edge = frame_inside((5, 6), (1, 0, 4, 6))  # touches the left and right borders
    assert edge[1].all() and edge[3].all() and edge.sum() == 12
    assert not frame_inside((5, 6), (0, 0, 5, 6)).any()  # the whole image: no edge inside
    inner = frame_inside((5, 6), (1, 1, 4, 4))
    assert inner.sum() == 8 and not inner[2, 2]


@pytest.mark.parametrize(("params", "fresh"), [({}, 3), (WARM, 1), (WINDOWED, 1)])
def test_warm_scribbles_fit_colour_models_once(monkeypatch, params, fresh):
    image, _ = disc_scene()
    calls = []
    run = seeded.grabcut_models

    def recording(image, labels, iterations, models=None):
        calls.append((models is None, iterations, image.shape[:2]))
        return run(image, labels, iterations, models)

    monkeypatch.setattr(seeded, "grabcut_models", recording)
    session = make_method("scribbles", **params).start(image)
    for stroke in [((30, 30), (30, 46)), ((20, 30), (40, 30)), ((28, 40), (34, 40))]:
        session.add(Scribble(stroke, stroke[0][0] != 20))
    assert sum(cold for cold, _, _ in calls) == fresh  # k-means on the first stroke only if warm
    assert [it for cold, it, _ in calls if not cold] == [1] * (3 - fresh)
    windowed = params.get("local_margin", 0) > 0  # later strokes: only around the stroke
    assert all((hw != image.shape[:2]) == windowed for cold, _, hw in calls if not cold)
    assert all(not m.flags.writeable for m in session.models)  # snapshots share them


def test_a_windowed_stroke_leaves_the_mask_outside_its_window():
    image, gt = disc_scene()
    session = make_method("scribbles", **WINDOWED).start(image)
    before = session.add(Scribble(((30, 30), (30, 46)), True))
    stroke = Scribble(((58, 5), (58, 15)), True)  # on the stripes, far from the disc
    after = session.add(stroke)
    y0, x0, y1, x1 = box_of(stroke.points, gt.shape, round(0.15 * min(gt.shape)))
    outside = np.ones(gt.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(after[outside], before[outside])
    assert after[58, 5:16].all() and binary_iou(after & outside, gt) >= 0.9
    again = make_method("scribbles", **WINDOWED).start(image)
    again.add(Scribble(((30, 30), (30, 46)), True))
    assert np.array_equal(again.add(stroke), after)  # deterministic


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="grabcut_box"):
        make_method("grabcut_box", margin=-1)
    with pytest.raises(ConfigError, match="watershed_markers"):
        make_method("watershed_markers", stroke_width=0)
    for bad in ({"warm_iterations": -1}, {"local_margin": -0.1}):
        with pytest.raises(ConfigError, match="scribbles"):
            make_method("scribbles", **bad)
