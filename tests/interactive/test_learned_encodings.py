import numpy as np
import pytest

from al_loop.interactive.learned.encodings import (
    Frame,
    contains,
    crop_frame,
    disk_map,
    distance_map,
    frame_region,
    gaussian_map,
    guidance_maps,
    to_frame,
    warp_from_frame,
    warp_to_frame,
    whole_frame,
)


def test_disk_covers_exactly_the_pixels_within_the_radius():
    disk = disk_map((21, 21), [(10, 10)], radius=5)
    assert disk[10, 15] == 1 and disk[10, 16] == 0  # 5 pixels right: in; 6: out
    assert disk[14, 13] == 1 and disk[14, 14] == 0  # 3-4-5 triangle on the edge; 4,4 outside
    yy, xx = np.mgrid[:21, :21]
    assert disk.sum() == ((yy - 10) ** 2 + (xx - 10) ** 2 <= 25).sum() == 81


def test_disks_of_several_points_are_their_union_and_no_points_give_zeros():
    both = disk_map((10, 30), [(5, 5), (5, 25)], radius=2)
    assert both.sum() == 2 * disk_map((10, 30), [(5, 5)], radius=2).sum()
    assert not disk_map((4, 4), [], radius=5).any()


def test_gaussian_peaks_at_each_point_and_falls_off_with_sigma():
    heat = gaussian_map((40, 60), [(10, 20), (30, 45)], sigma=4.0)
    assert heat[10, 20] == pytest.approx(1.0) and heat[30, 45] == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(heat), heat.shape) in {(10, 20), (30, 45)}
    assert heat[10, 24] == pytest.approx(np.exp(-0.5), rel=1e-5)  # one sigma away
    assert heat.max() <= 1.0 and heat.min() >= 0.0


def test_distance_map_is_one_at_the_points_and_falls_with_the_nearest_distance():
    dist = distance_map((20, 40), [(10, 5), (10, 35)], radius=10.0)
    assert dist[10, 5] == pytest.approx(1.0) and dist[10, 35] == pytest.approx(1.0)
    # 3-4-5 from the first point: 1 - tanh(2 * 5 / 10)
    assert dist[13, 9] == pytest.approx(1.0 - np.tanh(1.0), rel=1e-5)
    assert dist[10, 20] == pytest.approx(1.0 - np.tanh(3.0), rel=1e-5)  # 15 from both
    assert dist[10, 20] < dist[10, 30] < dist[10, 34]  # the nearer point decides
    assert not distance_map((4, 4), [], radius=10.0).any()
    # the radius scales the fall-off: twice the radius, half the slope
    wide = distance_map((20, 40), [(10, 5)], radius=20.0)
    assert wide[10, 15] == pytest.approx(dist[10, 10], rel=1e-5)


def test_guidance_stacks_positive_negative_previous():
    previous = np.zeros((32, 32), bool)
    previous[:4] = True
    maps = guidance_maps((32, 32), [(8, 8)], [(20, 20)], previous, "disk", 5, 5)
    assert maps.shape == (3, 32, 32) and maps.dtype == np.float32
    assert maps[0, 8, 8] == 1 and maps[0, 20, 20] == 0
    assert maps[1, 20, 20] == 1 and maps[1, 8, 8] == 0
    assert np.array_equal(maps[2], previous.astype(np.float32))
    assert not guidance_maps((32, 32), [], [], None, "gaussian", 5, 5).any()
    # "distance" scales by the radius (not sigma)
    far = guidance_maps((32, 32), [(8, 8)], [], None, "distance", 20, 1)
    assert far[0, 8, 18] == pytest.approx(1.0 - np.tanh(1.0), rel=1e-5) and not far[1].any()
    with pytest.raises(ValueError, match="style"):
        guidance_maps((32, 32), [], [], None, "square", 5, 5)
    with pytest.raises(ValueError, match="does not match"):
        guidance_maps((32, 32), [], [], np.zeros((8, 8)), "disk", 5, 5)


def test_whole_frame_keeps_the_aspect_in_multiples_of_32():
    frame = whole_frame((480, 854), long_side=448)  # a DAVIS frame
    assert frame.box == (0.0, 0.0, 480.0, 854.0)
    assert frame.size == (256, 448)  # 480 * 448 / 854 = 251.8 -> nearest multiple of 32
    assert all(n % 32 == 0 for n in whole_frame((37, 1000), 448).size)


def test_crop_frame_is_the_points_box_grown_by_the_margin():
    points = [(10, 20), (50, 20), (30, 0), (30, 80)]  # box rows 10..50, cols 0..80
    frame = crop_frame(points, size=64, margin_fraction=0.1, min_margin=2)
    assert frame.size == (64, 64)
    assert frame.box == pytest.approx((10 - 8.1, 0 - 8.1, 51 + 8.1, 81 + 8.1))  # 10 % of 81
    small = crop_frame([(5, 5)], size=32, margin_fraction=0.1, min_margin=10)
    assert small.box == (-5.0, -5.0, 16.0, 16.0)  # the minimum margin, past the image edge
    assert all(contains(frame, p) for p in points)
    with pytest.raises(ValueError):
        crop_frame([], 32, 0.1, 1)


def test_to_frame_maps_pixel_centres_and_corners():
    frame = Frame((10.0, 20.0, 30.0, 60.0), (40, 80))  # 2x scale both ways
    (y, x), (y2, x2) = to_frame([(10, 20), (29, 59)], frame)
    assert (y, x) == pytest.approx((0.5, 0.5))  # the first pixel's centre
    assert (y2, x2) == pytest.approx((38.5, 78.5))


def test_warp_to_frame_crops_and_pads_with_zeros():
    image = np.arange(100, dtype=np.uint8).reshape(10, 10)
    same = warp_to_frame(image, Frame((2.0, 3.0, 6.0, 8.0), (4, 5)), nearest=True)
    assert np.array_equal(same, image[2:6, 3:8])
    padded = warp_to_frame(image, Frame((-2.0, -2.0, 2.0, 2.0), (4, 4)), nearest=True)
    assert (padded[:2] == 0).all() and padded[2, 2] == image[0, 0]


def test_warp_round_trip_restores_a_smooth_map_inside_the_frame():
    yy, xx = np.mgrid[:60, :80].astype(np.float32)
    ramp = (yy + 2 * xx) / 220.0
    frame = Frame((10.0, 10.0, 50.0, 70.0), (64, 96))
    back = warp_from_frame(warp_to_frame(ramp, frame), frame, ramp.shape)
    ys, xs = frame_region(frame, ramp.shape)
    assert (ys, xs) == (slice(10, 50), slice(10, 70))
    assert np.abs(back[ys, xs] - ramp[ys, xs])[2:-2, 2:-2].max() < 1e-3
