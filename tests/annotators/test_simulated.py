import cv2
import numpy as np
import pytest

from al_loop.annotators.simulated import SimulatedAnnotator, annotate_object, shift_interaction
from al_loop.core.cost import CostTable
from al_loop.core.errors import ConfigError
from al_loop.core.interactions import from_json
from al_loop.core.units import Unit
from al_loop.data.base import IGNORE
from simulators import NocClicker

COLOURS = {0: (70, 90, 120), 1: (210, 60, 40), 2: (40, 200, 60)}


@pytest.fixture(scope="module")
def cost() -> CostTable:
    return CostTable.load()


def scene(h: int = 48, w: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 rectangle, class 2 disc, a tiny class-1 speck, a small IGNORE patch."""
    gt = np.zeros((h, w), np.uint8)
    gt[8:18, 6:26] = 1  # 200 px
    cv2.circle(gt, (44, 30), 7, 2, -1)
    gt[40:42, 4:6] = 1  # 4 px: below min_instance_pixels
    gt[2:4, 60:63] = IGNORE
    rng = np.random.default_rng(seed)
    image = np.zeros((h, w, 3), np.float64)
    for c, colour in COLOURS.items():
        image[gt == c] = colour
    image[gt == IGNORE] = COLOURS[0]
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), gt


def annotator(masks, method="oracle_polygon", cost=None, **kw) -> SimulatedAnnotator:
    kw.setdefault("min_instance_pixels", 16)
    return SimulatedAnnotator(masks[None], method, cost or CostTable.load(), **kw)


def per_object_seconds(log: list[dict]) -> dict[int, float]:
    return {r["object"]: r["seconds"] for r in log}


class StuckMethod:
    """A method that never changes its mask: the loop must stop at the cap."""

    name, interaction = "stuck", "click"

    def start(self, image, initial_mask=None):
        class Session:
            mask = np.zeros(image.shape[:2], bool)

            def add(self, interaction):
                return self.mask

        return Session()


def test_annotate_object_stops_at_the_cap_and_prices_the_clicks(cost):
    image, gt = scene()
    result = annotate_object(StuckMethod(), NocClicker(), image, gt == 1, cost, max_interactions=3)
    assert len(result.interactions) == 3 and result.ious == [0.0, 0.0, 0.0]
    assert result.seconds == pytest.approx(2.4 + 0.9 + 0.9)


def test_annotate_object_stops_at_the_target(cost):
    from al_loop.interactive import make_method

    image, gt = scene()
    obj = gt == 2
    result = annotate_object(make_method("grabcut_clicks"), NocClicker(), image, obj, cost, 20, 0.8)
    assert result.ious[-1] >= 0.8 and all(v < 0.8 for v in result.ious[:-1])
    ignore = np.zeros_like(obj)
    ignore[obj] = True  # everything ignored: nothing to do, IoU 1
    nothing = annotate_object(
        make_method("grabcut_clicks"), NocClicker(), image, obj, cost, ignore=ignore
    )
    assert nothing.interactions == [] and nothing.final_iou == 1.0 and nothing.seconds == 0.0


def test_multi_class_unit_with_the_oracle(cost):
    image, gt = scene()
    ann = annotator(gt, "oracle_polygon", cost)
    result = ann.annotate(Unit(0, 0), image, (0, 0, 48, 64), np.ones((48, 64), bool))
    expected = gt.copy()
    expected[40:42, 4:6] = IGNORE  # tiny instance left unlabelled
    assert np.array_equal(result.mask, expected)
    # two instances, each one polygon instance plus choosing its class (two object classes)
    assert result.seconds == pytest.approx(2 * (79.2 + 1.0))
    assert per_object_seconds(result.interactions) == {0: 80.2, 1: 80.2}
    assert [r["class"] for r in result.interactions] == [1, 2]  # largest instance first
    assert result.method == "oracle_polygon" and result.annotator.startswith("simulated:")
    assert all(r["iou"] == 1.0 for r in result.interactions)


@pytest.mark.parametrize("method", ["grabcut_clicks", "watershed_clicks"])
def test_multi_class_unit_with_clicks(method, cost):
    image, gt = scene()
    ann = annotator(gt, method, cost)
    result = ann.annotate(Unit(0, 0), image, (0, 0, 48, 64), np.ones((48, 64), bool))
    seconds = per_object_seconds(result.interactions)
    assert set(seconds) == {0, 1}
    assert result.seconds == pytest.approx(sum(seconds.values()))
    for k, s in seconds.items():
        clicks = sum(r["object"] == k for r in result.interactions)
        assert s == pytest.approx(2.4 + 0.9 * (clicks - 1) + 1.0)
        assert min(r["iou"] for r in result.interactions if r["object"] == k) >= 0.9
    assert result.mask[40, 4] == IGNORE and result.mask[2, 60] == IGNORE
    labelled = (gt != IGNORE) & (result.mask != IGNORE)
    assert (result.mask[labelled] == gt[labelled]).mean() > 0.97


def test_unit_in_a_grid_is_cropped_and_logged_in_image_coordinates(cost):
    image, gt = scene()
    box = (16, 32, 48, 64)  # the lower right cell: most of the disc
    unit_mask = np.ones((32, 32), bool)
    unit_mask[:, 28:] = False  # a unit need not fill its box
    result = annotator(gt, "grabcut_clicks", cost).annotate(Unit(0, 5), image, box, unit_mask)
    assert result.mask.shape == (32, 32) and result.box == box
    assert (result.mask[:, 28:] == IGNORE).all()
    clicks = [
        from_json({k: v for k, v in r.items() if k in ("type", "y", "x", "positive")})
        for r in result.interactions
    ]
    assert clicks and all(gt[c.y, c.x] == 2 for c in clicks if c.positive)
    assert all(r["class"] == 2 for r in result.interactions)


def test_background_only_unit_costs_one_confirm_click(cost):
    image, gt = scene()
    unit_mask = np.ones((10, 20), bool)
    result = annotator(gt, "watershed_clicks", cost).annotate(
        Unit(0, 7), image, (26, 0, 36, 20), unit_mask
    )
    assert result.seconds == pytest.approx(2.4)
    assert [r["type"] for r in result.interactions] == ["ConfirmBackground"]
    assert (result.mask == 0).all()


def test_single_object_class_pays_no_class_choice(cost):
    image, gt = scene()
    binary = np.where(gt == 2, 1, np.where(gt == IGNORE, IGNORE, 0)).astype(np.uint8)
    result = annotator(binary, "oracle_polygon", cost).annotate(
        Unit(0, 0), image, (0, 0, 48, 64), np.ones((48, 64), bool)
    )
    assert result.seconds == pytest.approx(79.2)


def test_correct_initial_labels_need_only_a_confirmation(cost):
    image, gt = scene()
    ann = annotator(gt, "watershed_clicks", cost, use_initial=True)
    initial = np.where(gt == IGNORE, 0, gt).astype(np.uint8)
    result = ann.annotate(Unit(0, 0), image, (0, 0, 48, 64), np.ones((48, 64), bool), initial)
    assert result.seconds == pytest.approx(2.4)
    assert (result.mask[gt != IGNORE] == np.where(gt == 1, 1, gt)[gt != IGNORE]).mean() > 0.99


@pytest.mark.parametrize("method", ["grabcut_clicks", "watershed_clicks"])
def test_wrong_initial_labels_are_corrected_and_paid(method, cost):
    image, gt = scene()
    only_rect = np.where(gt == 2, 0, gt).astype(np.uint8)  # a pool with class 1 only here
    initial = np.where(gt == 1, 1, 0).astype(np.uint8)
    initial[30:40, 40:52] = 2  # a predicted class absent from the unit: must be clicked away
    initial[8:18, 16:26] = 0  # half the rectangle missed
    ann = annotator(only_rect, method, cost, use_initial=True)
    result = ann.annotate(Unit(0, 0), image, (0, 0, 48, 64), np.ones((48, 64), bool), initial)
    classes = {r["class"] for r in result.interactions}
    assert classes == {1, 2}
    assert result.seconds >= 2 * 2.4
    assert result.seconds == pytest.approx(sum(per_object_seconds(result.interactions).values()))
    assert (result.mask == 2).sum() <= 0.1 * 120  # the false class is (mostly) gone
    assert (result.mask[8:18, 6:26] == 1).mean() > 0.9


def test_polygon_methods_ignore_initial_labels(cost):
    image, gt = scene()
    initial = np.zeros_like(gt)
    ann = annotator(gt, "oracle_polygon", cost, use_initial=True)
    result = ann.annotate(Unit(0, 0), image, (0, 0, 48, 64), np.ones((48, 64), bool), initial)
    assert result.seconds == pytest.approx(2 * 80.2)


def test_deterministic_for_a_seed_with_a_noisy_user(cost):
    image, gt = scene()
    noisy = {"jitter": 1.5, "wrong_click_prob": 0.2}

    def run(seed):
        ann = annotator(gt, "grabcut_clicks", cost, seed=seed, user_params=noisy)
        return ann.annotate(Unit(0, 3), image, (0, 0, 48, 64), np.ones((48, 64), bool))

    a, b = run(1), run(1)
    assert a.interactions == b.interactions and np.array_equal(a.mask, b.mask)
    assert a.seconds == b.seconds


def test_constructor_errors_are_config_errors(cost):
    _, gt = scene()
    with pytest.raises(ConfigError, match="unknown 'magic'"):
        annotator(gt, "magic", cost)
    with pytest.raises(ConfigError, match="click"):
        annotator(gt, "grabcut_clicks", cost, user_params={"wobble": 1})
    with pytest.raises(ConfigError, match="seed"):
        annotator(gt, "grabcut_clicks", cost, seed=-1)


def test_shift_interaction_moves_every_coordinate():
    from al_loop.core.interactions import Box, Click, InsideOutside, Polygon

    assert shift_interaction(Click(1, 2, False), 10, 20) == Click(11, 22, False)
    assert shift_interaction(Box(0, 1, 2, 3), 10, 20) == Box(10, 21, 12, 23)
    assert shift_interaction(Polygon(((1, 1), (2, 3))), 1, 1) == Polygon(((2, 2), (3, 4)))
    moved = shift_interaction(InsideOutside(((0, 0), (5, 5)), (2, 2)), 1, 2)
    assert moved == InsideOutside(((1, 2), (6, 7)), (3, 4))


def test_without_a_background_class_every_class_is_an_outlined_object(cost):
    # a dense scene (CamVid): class 0 is a class like the others, so its region costs a polygon
    # too, and nothing is labelled for free
    image, gt = scene()
    ann = annotator(gt, "oracle_polygon", cost, background=None)
    result = ann.annotate(Unit(0, 0), image, (0, 0, 48, 64), np.ones((48, 64), bool))
    classes = sorted({r["class"] for r in result.interactions})
    assert classes == [0, 1, 2]
    assert result.seconds == pytest.approx(3 * (79.2 + 1.0))  # three object classes to choose
    expected = gt.copy()
    expected[40:42, 4:6] = IGNORE
    assert np.array_equal(result.mask, expected)


def test_without_a_background_class_an_unannotated_pixel_stays_unlabelled(cost):
    gt = np.zeros((48, 64), np.uint8)
    gt[10:30, 10:30] = 1
    gt[40:42, 4:6] = 2  # a speck below min_instance_pixels
    image = np.full((48, 64, 3), 90, np.uint8)
    result = annotator(gt, "oracle_polygon", cost, background=None).annotate(
        Unit(0, 0), image, (0, 0, 48, 64), np.ones((48, 64), bool)
    )
    assert (result.mask[40:42, 4:6] == IGNORE).all()
    assert (result.mask[10:30, 10:30] == 1).all() and (result.mask[0:5, 40:60] == 0).all()
