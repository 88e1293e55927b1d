import cv2
import numpy as np
import pytest

from al_loop.core.interactions import Polygon
from al_loop.core.metrics import binary_iou
from al_loop.interactive import make_method
from simulators import make_user
from simulators.polygon import PolygonUser, even_odd_contours


def ring_with_island(shape=(50, 60)) -> np.ndarray:
    """A disc with a hole, an island inside the hole, and a second small blob."""
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, (25, 25), 18, 1, -1)
    cv2.circle(mask, (25, 25), 9, 0, -1)
    cv2.circle(mask, (25, 25), 3, 1, -1)
    mask[40:46, 50:57] = 1
    return mask.astype(bool)


def draw(user, gt) -> tuple[np.ndarray, list[Polygon]]:
    session = make_method("polygon").start(np.zeros((*gt.shape, 3), np.uint8))
    given = []
    while (poly := user.next_interaction(gt, session.mask)) is not None:
        session.add(poly)
        given.append(poly)
    return session.mask, given


def test_exact_contours_give_the_mask_back():
    gt = ring_with_island()
    mask, given = draw(make_user("polygon_exact"), gt)
    assert np.array_equal(mask, gt)
    assert len(given) == 4  # two outlines, one hole, one island
    assert len(given[0].vertices) > 50  # every boundary pixel is a vertex


@pytest.mark.parametrize("seed", range(5))
def test_exact_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    gt = cv2.medianBlur((rng.random((30, 40)) < 0.5).astype(np.uint8) * 255, 3) > 0
    mask, _ = draw(PolygonUser(tolerance=0), gt)
    assert np.array_equal(mask, gt)


def test_tolerance_uses_fewer_vertices_and_stays_close():
    gt = ring_with_island()
    exact = sum(len(p.vertices) for p in PolygonUser(0).polygons(gt))
    mask, given = draw(PolygonUser(tolerance=1.5), gt)
    assert sum(len(p.vertices) for p in given) < exact / 3
    assert binary_iou(mask, gt) > 0.9


def test_min_area_skips_tiny_contours():
    gt = ring_with_island()
    assert len(PolygonUser(0, min_area=50).polygons(gt)) == 2  # the hole stays, the island goes


def test_state_round_trip_and_contours_order():
    gt = ring_with_island()
    user = PolygonUser(0)
    first = user.next_interaction(gt, gt)
    state = user.get_state()
    again = PolygonUser(0)
    again.set_state(state)
    assert again.next_interaction(gt, gt) == user.next_interaction(gt, gt)
    assert first == PolygonUser(0).polygons(gt)[0]
    areas = [cv2.contourArea(c) for c in even_odd_contours(gt)[:2]]
    assert areas[0] >= areas[1]  # largest outline first


def test_empty_object_gives_nothing():
    assert PolygonUser().next_interaction(np.zeros((5, 5), bool), np.zeros((5, 5), bool)) is None
