"""RITM's zoom-in frame and the windowed click disks (al_loop/interactive/learned/encodings.py)."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.interactive.learned.encodings import (
    _squared_distances,
    box_iou,
    contains,
    disk_map,
    zoom_frame,
)


def box_mask(shape, y0, x0, y1, x1) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_zoom_frame_is_the_mask_box_grown_at_the_size_with_its_aspect():
    mask = box_mask((480, 640), 200, 100, 300, 300)  # 100 x 200 pixels, centre (250, 200)
    frame = zoom_frame(mask, [(250, 150)], expansion=1.4, scale=(0.1, 10.0), size=256)
    (y0, x0, y1, x1), (h, w) = frame.box, frame.size
    assert w == 256 and h == 128  # long side at size; 140 * 256 / 280 = 128: a multiple of 32
    assert x1 - x0 == pytest.approx(280.0) and y1 - y0 == pytest.approx(140.0)
    assert (y0 + y1) / 2 == pytest.approx(250.0) and (x0 + x1) / 2 == pytest.approx(200.0)
    # a short side that is not a multiple of 32 is rounded up and the box grown to match
    other = zoom_frame(box_mask((480, 640), 200, 100, 300, 400), [], 1.0, (0.1, 10.0), 256)
    assert other.size == (96, 256)  # 100 * 256 / 300 = 85.3 -> 96
    oy0, ox0, oy1, ox1 = other.box
    assert (oy1 - oy0) / (ox1 - ox0) == pytest.approx(96 / 256)
    assert oy1 - oy0 > 100 and ox1 - ox0 == pytest.approx(300.0)


def test_zoom_frame_scale_stays_within_its_bounds():
    shape = (480, 640)
    small = zoom_frame(box_mask(shape, 240, 320, 250, 330), [], 1.4, (0.5, 1.0), 256)
    assert small.size == (256, 256)  # magnified at most 1x: a 256-pixel box, square
    y0, x0, y1, x1 = small.box
    assert y1 - y0 == pytest.approx(256.0) and x1 - x0 == pytest.approx(256.0)
    assert contains(small, (245, 325))
    large = zoom_frame(box_mask(shape, 0, 0, 480, 640), [], 1.4, (0.5, 1.0), 256)
    # the whole image (the grown box is cut to it) at scale 0.5, not 0.4 (256 / 640); its
    # height rounded up to 256 frame pixels: 512 image rows, centred on the 480
    assert large.size == (256, 320)
    assert large.box == pytest.approx((-16.0, 0.0, 496.0, 640.0))


def test_zoom_frame_moves_inside_the_image_and_holds_points():
    mask = box_mask((200, 200), 0, 0, 20, 20)  # in the corner: the 28-pixel box moves inside
    assert zoom_frame(mask, [], 1.4, (0.1, 10.0), 64).box == pytest.approx((0, 0, 28, 28))
    frame = zoom_frame(mask[:100], [(90, 10)], 1.4, (0.1, 10.0), 64)  # a click far below
    assert contains(frame, (90, 10)) and contains(frame, (0, 0)) and contains(frame, (19, 19))
    assert zoom_frame(np.zeros((10, 10), bool), [], 1.4, (0.5, 2.0), 64) is None
    point_only = zoom_frame(np.zeros((100, 100), bool), [(50, 50)], 1.4, (0.5, 2.0), 64)
    assert point_only.size == (64, 64) and contains(point_only, (50, 50))


def test_box_iou_by_hand():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (0, 5, 10, 15)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0


@pytest.mark.parametrize("radius", [0.5, 3.0, 5.0, 7.3])
def test_windowed_disks_equal_the_distance_to_every_pixel(radius):
    rng = np.random.default_rng(int(radius * 10))
    points = [tuple(p) for p in rng.uniform(-8, 40, size=(6, 2))] + [(0.0, 0.0), (31.5, 47.5)]
    expected = (_squared_distances((32, 48), points).min(axis=0) <= radius**2).astype(np.float32)
    assert np.array_equal(disk_map((32, 48), points, radius), expected)
