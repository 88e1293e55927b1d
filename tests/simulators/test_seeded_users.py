import numpy as np
import pytest

from al_loop.annotators.simulated import annotate_object
from al_loop.core.cost import CostTable
from al_loop.core.errors import ConfigError
from al_loop.core.interactions import Box, Click, ExtremePoints, InsideOutside, Scribble
from al_loop.data.base import IGNORE
from al_loop.interactive import LEARNED_METHODS, METHODS, make_method
from simulators import USERS, make_user
from simulators.seeded import (
    BoxUser,
    ExtremePointsUser,
    InsideOutsideUser,
    ScribbleUser,
    largest_error,
    longest_skeleton_path,
)
from tests.interactive.test_methods import disc_scene


def diamond() -> np.ndarray:
    """|y - 10| + |x - 12| <= 5 on a 20 x 25 image: one pixel at each extreme."""
    yy, xx = np.mgrid[:20, :25]
    return np.abs(yy - 10) + np.abs(xx - 12) <= 5


@pytest.fixture(scope="module")
def cost() -> CostTable:
    return CostTable.load()


def test_ignore_pixels_are_not_the_object():
    gt = diamond().astype(np.uint8)
    gt[5, 12] = IGNORE  # the top vertex is uncertain
    top = ExtremePointsUser().next_interaction(gt, np.zeros(gt.shape, bool)).points[0]
    assert top == (6, 12)


def test_opening_users_describe_once_then_click():
    obj = diamond()
    empty = np.zeros(obj.shape, bool)
    for user, kind in [
        (ExtremePointsUser(), ExtremePoints),
        (BoxUser(), Box),
        (InsideOutsideUser(), InsideOutside),
    ]:
        assert isinstance(user.next_interaction(obj, empty), kind)
        click = user.next_interaction(obj, empty)
        assert isinstance(click, Click) and click.positive and obj[click.y, click.x]
    assert BoxUser().next_interaction(obj, empty) == Box(5, 7, 16, 18)


def test_inside_outside_corners_surround_the_object():
    user = InsideOutsideUser(margin=2)
    io = user.next_interaction(diamond(), np.zeros((20, 25), bool))
    assert io.corners == ((3, 5), (17, 19)) and io.inside == (10, 12)


def test_without_an_object_the_opening_is_skipped():
    current = np.zeros((20, 25), bool)
    current[2:5, 2:5] = True  # a predicted blob to remove
    click = BoxUser().next_interaction(np.zeros((20, 25), bool), current)
    assert click == Click(3, 3, False)


@pytest.mark.parametrize("cls", [ExtremePointsUser, BoxUser, InsideOutsideUser])
def test_offset_noise_is_seeded_and_stays_in_the_image(cls):
    obj = np.zeros((20, 25), bool)
    obj[0:6, 0:6] = True  # touches the border: noise must be clipped
    empty = np.zeros(obj.shape, bool)
    clean = cls(seed=0).next_interaction(obj, empty)
    noisy = [cls(seed=s, offset=3.0).next_interaction(obj, empty) for s in (1, 1, 2)]
    assert noisy[0] == noisy[1] and noisy[0] != noisy[2] and noisy[0] != clean
    for it in noisy:
        flat = np.asarray(list(coordinates(vars(it))))
        assert flat.min() >= 0 and flat.max() <= 25


def coordinates(value):
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from coordinates(v)
    else:
        yield int(value)


def test_largest_error_and_its_sign():
    gt = np.zeros((20, 20), bool)
    gt[2:12, 2:12] = True
    current = gt.copy()
    current[2:5, 2:12] = False  # 30 missed pixels
    current[15:17, 15:20] = True  # 10 false positives
    region, positive = largest_error(gt, current)
    assert positive and region.sum() == 30
    assert largest_error(gt, gt) is None


def test_scribble_lies_inside_the_error_region_along_its_axis():
    gt = np.zeros((30, 40), bool)
    gt[5:25, 5:35] = True
    current = gt.copy()
    current[12:17, 5:35] = False  # a missed horizontal band, 5 x 30
    stroke = ScribbleUser().next_interaction(gt, current)
    assert isinstance(stroke, Scribble) and stroke.positive
    error = gt & ~current
    assert all(error[y, x] for y, x in stroke.points)
    xs = [x for _, x in stroke.points]
    assert max(xs) - min(xs) >= 20  # along the band, not across it
    steps = np.abs(np.diff(np.asarray(stroke.points), axis=0)).max(axis=1)
    assert steps.max() <= 1  # a connected path


def test_negative_scribble_on_a_false_positive():
    gt = np.zeros((20, 20), bool)
    current = np.zeros((20, 20), bool)
    current[5:9, 3:15] = True
    stroke = ScribbleUser().next_interaction(gt, current)
    assert not stroke.positive and all(current[y, x] for y, x in stroke.points)


def test_scribbler_stops_when_nothing_is_worth_a_stroke():
    gt = np.zeros((10, 10), bool)
    gt[2:8, 2:8] = True
    current = gt.copy()
    current[2, 2] = False
    assert ScribbleUser(min_pixels=4).next_interaction(gt, current) is None


def test_skeleton_path_of_a_single_pixel():
    region = np.zeros((5, 5), bool)
    region[2, 3] = True
    assert longest_skeleton_path(region) == [(2, 3)]


def test_wobble_is_seeded():
    gt = np.zeros((30, 40), bool)
    gt[5:25, 5:35] = True
    empty = np.zeros(gt.shape, bool)
    a, b = (ScribbleUser(seed=4, wobble=2.0).next_interaction(gt, empty) for _ in range(2))
    assert a == b and a != ScribbleUser().next_interaction(gt, empty)


@pytest.mark.parametrize("kind", ["extreme_points", "box", "inside_outside", "scribble"])
def test_state_round_trip_resumes_exactly(kind):
    image, gt = disc_scene()
    classic = sorted(set(METHODS) - LEARNED_METHODS)  # learned ones need trained weights
    method = next(make_method(n) for n in classic if make_method(n).interaction == kind)
    params = {"wobble": 1.5} if kind == "scribble" else {"offset": 1.5, "jitter": 1.0}
    user = make_user(kind, seed=7, **params)
    session = method.start(image)
    session.add(user.next_interaction(gt, session.mask))
    state = user.get_state()
    mask = session.mask
    mask[20:30, 30:40] = ~mask[20:30, 30:40]  # leave an error for the next interaction
    expected = [user.next_interaction(gt, mask) for _ in range(2)]
    resumed = make_user(kind, seed=7, **params)
    resumed.set_state(state)
    assert [resumed.next_interaction(gt, mask) for _ in range(2)] == expected


@pytest.mark.parametrize(
    ("name", "first_seconds"),
    [
        ("extreme_points_grabcut", 7.0),
        ("iog_grabcut", 7.0),
        ("grabcut_box", 35.0),
        ("scribbles", 3.0),
        ("watershed_markers", 3.0),
    ],
)
def test_annotation_is_priced_with_the_cost_table(name, first_seconds, cost):
    image, gt = disc_scene()
    method = make_method(name)
    user = make_user(method.interaction, seed=0)
    result = annotate_object(method, user, image, gt, cost, max_interactions=4, target_iou=0.999)
    further = 3.0 if method.interaction == "scribble" else 0.9  # clicks after the opening
    assert result.seconds == pytest.approx(first_seconds + further * (len(result.interactions) - 1))


def test_every_interaction_kind_has_a_user():
    kinds = {make_method(name).interaction for name in METHODS}
    assert kinds <= set(USERS)
    with pytest.raises(ConfigError, match="scribble"):
        make_user("lasso")


OPENINGS = {
    "extreme_points_grabcut": "ExtremePoints",
    "grabcut_box": "Box",
    "iog_grabcut": "InsideOutside",
    "scribbles": "Scribble",
    "watershed_markers": "Scribble",
}


@pytest.mark.parametrize("method", sorted(OPENINGS))
def test_simulated_annotator_with_seeded_methods(method, cost):
    from al_loop.annotators.simulated import SimulatedAnnotator
    from al_loop.core.units import Unit
    from tests.annotators.test_simulated import scene

    image, gt = scene()
    ann = SimulatedAnnotator(gt[None], method, cost, min_instance_pixels=16)
    result = ann.annotate(Unit(0, 0), image, (0, 0, 48, 64), np.ones((48, 64), bool))
    assert {r["object"] for r in result.interactions} == {0, 1}
    firsts = {r["object"]: r["type"] for r in reversed(result.interactions)}
    assert set(firsts.values()) == {OPENINGS[method]}  # each object opens with the method's kind
    assert result.mask[40, 4] == IGNORE and result.mask[2, 60] == IGNORE
    labelled = (gt != IGNORE) & (result.mask != IGNORE)
    assert (result.mask[labelled] == gt[labelled]).mean() > 0.95
    assert result.seconds == pytest.approx(
        sum({r["object"]: r["seconds"] for r in result.interactions}.values())
    )
