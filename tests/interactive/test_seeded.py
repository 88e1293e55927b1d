import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.interactions import Box, Click, ExtremePoints, InsideOutside, Scribble
from al_loop.core.metrics import binary_iou
from al_loop.interactive import make_method
from al_loop.interactive.seeded import box_of, outside_box, paint_strokes
from tests.interactive.test_methods import disc_scene

BOX_METHODS = {
    "grabcut_box": Box(14, 22, 47, 55),
    "extreme_points_grabcut": ExtremePoints(((15, 38), (45, 38), (30, 23), (30, 53))),
    "iog_grabcut": InsideOutside(((13, 21), (47, 55)), (30, 38)),
}
SCRIBBLE_METHODS = ["scribbles", "watershed_markers"]


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


@pytest.mark.parametrize("name", SCRIBBLE_METHODS)
def test_scribble_methods_follow_the_strokes(name):
    image, gt = disc_scene()
    session = make_method(name).start(image)
    mask = session.add(Scribble(((30, 30), (30, 46)), True))
    assert binary_iou(mask, gt) >= 0.9
    assert mask[30, 30:47].all()
    mask = session.add(Scribble(((20, 30), (40, 30)), False))
    assert not mask[20:41, 30].any()  # definite background where the stroke went


@pytest.mark.parametrize("name", SCRIBBLE_METHODS)
def test_scribble_methods_correct_an_initial_mask(name):
    image, gt = disc_scene()
    initial = gt.copy()
    initial[5:15, 60:75] = True  # a false positive blob far from the disc
    session = make_method(name).start(image, initial)
    mask = session.add(Scribble(((8, 62), (8, 72), (12, 72)), False))
    assert binary_iou(mask, gt) > binary_iou(initial, gt)
    assert not mask[8, 62:73].any()


@pytest.mark.parametrize("name", SCRIBBLE_METHODS)
def test_scribble_methods_reject_bad_input(name):
    image, _ = disc_scene()
    session = make_method(name).start(image)
    with pytest.raises(ValueError, match="outside image"):
        session.add(Scribble(((5, 5), (5, 500)), True))
    with pytest.raises(ValueError, match="at least one point"):
        session.add(Scribble((), True))
    with pytest.raises(TypeError, match="Scribble"):
        session.add(Click(5, 5))


def test_only_negative_strokes_give_an_empty_mask():
    image, _ = disc_scene()
    for name in SCRIBBLE_METHODS:
        assert not make_method(name).start(image).add(Scribble(((5, 5), (5, 20)), False)).any()


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="grabcut_box"):
        make_method("grabcut_box", margin=-1)
    with pytest.raises(ConfigError, match="watershed_markers"):
        make_method("watershed_markers", stroke_width=0)
