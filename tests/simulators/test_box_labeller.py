"""The simulated box-labeller on toy projections: boxes, purity, prices, clicks, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.data.base import IGNORE
from simulators.box_labeller import (
    BoxLabeller,
    _cuts,
    best_box,
    click_split,
    fit_price_scale,
    priced_seconds,
    zoom_tiles,
)

PRICES = {
    "feature_space_box": 5.0,
    "feature_space_segment": 0.5,
    "feature_space_click": 1.0,
    "region_label": 2.0,
}


def toy_projection():
    """Hand-placed: two blobs of class 0 (3 points each, around (0, 0) and (0, 2.4)) with a
    class-1 point between them, and a cluster of 5 class-1 points around (10, 10)."""
    coords = np.array(
        [
            [-0.2, 0.0], [0.2, 0.0], [0.0, -0.2],  # class 0, bottom blob
            [-0.2, 2.4], [0.2, 2.4], [0.0, 2.6],  # class 0, top blob
            [0.0, 1.2],  # class 1, between the blobs: no pure box holds both blobs
            [10.0, 10.0], [10.2, 10.0], [10.0, 10.2], [10.2, 10.2], [10.1, 10.1],
        ]
    )  # fmt: skip
    classes = np.array([0] * 6 + [1] * 6, np.uint8)
    return coords, classes


def test_the_best_box_holds_the_largest_pure_cluster():
    coords, classes = toy_projection()
    box = best_box(coords, classes, np.ones(len(coords), bool), 2, purity=1.0)
    assert box.label == 1 and box.segments == (7, 8, 9, 10, 11)
    assert box.agreeing == 5


def test_a_lower_purity_lets_a_box_swallow_a_stray_point():
    coords, classes = toy_projection()
    box = best_box(coords, classes, np.ones(len(coords), bool), 2, purity=0.8)
    assert box.label == 0 and box.agreeing == 6
    assert box.segments == (0, 1, 2, 3, 4, 5, 6)  # 6 of 7 agree: above 0.8


def test_max_wrong_caps_the_disagreeing_segments_of_a_box():
    coords, classes = toy_projection()
    box = best_box(coords, classes, np.ones(len(coords), bool), 2, purity=0.8, max_wrong=0)
    assert box.label == 1 and box.segments == (7, 8, 9, 10, 11)  # as with purity 1
    with pytest.raises(ConfigError, match="max_wrong"):
        BoxLabeller(PRICES, max_wrong=-1)


def brute_best_box(coords, classes, candidates, purity, grid, max_wrong, weights=None):
    """(label, agreeing, segments) of ``best_box`` by trying every box of the cut grid in
    order, counting its points one by one (with ``weights``, weighing them for the purity)."""
    index = np.flatnonzero(candidates)
    points, cls = coords[index], classes[index]
    x_cuts, y_cuts = _cuts(points[:, 0], grid), _cuts(points[:, 1], grid)
    cx, cy = np.searchsorted(x_cuts, points[:, 0]), np.searchsorted(y_cuts, points[:, 1])
    spans_x = [(a, b) for a in range(len(x_cuts) + 1) for b in range(a + 1, len(x_cuts) + 2)]
    spans_y = [(a, b) for a in range(len(y_cuts) + 1) for b in range(a + 1, len(y_cuts) + 2)]
    best = None
    for x0, x1 in spans_x:
        for y0, y1 in spans_y:
            inside = (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)
            labelled = inside & (cls != IGNORE)
            known = cls[labelled].astype(int)
            if not len(known):
                continue
            per_class = np.bincount(known)
            label = int(per_class.argmax())
            pure = per_class.max() >= purity * len(known)
            if weights is not None:
                mass = np.bincount(known, weights[index][labelled])
                label = int(mass.argmax())
                pure = mass.max() >= purity * mass.sum()
            agreeing = int(per_class[label])
            wrong = len(known) - agreeing
            if not pure or (max_wrong is not None and wrong > max_wrong):
                continue
            if best is None or (agreeing, -wrong) > best[0]:
                segments = tuple(int(s) for s in index[inside])
                best = ((agreeing, -wrong), (label, agreeing, segments))
    return None if best is None else best[1]


@pytest.mark.parametrize("seed", range(12))
def test_best_box_is_the_best_box_of_the_cut_grid(seed):
    """Against a box-by-box count: random points of up to 5 classes (class ids with gaps,
    some without ground truth), a subset of candidates, a coarse grid."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    coords = np.round(rng.normal(size=(n, 2)), 1)  # ties between coordinates too
    classes = rng.choice(np.array([0, 2, 3, 7, IGNORE], np.uint8), n, p=[0.4, 0.2, 0.2, 0.1, 0.1])
    candidates = rng.random(n) < 0.8
    purity = float(rng.choice([0.6, 0.9, 1.0]))
    max_wrong = [None, 0, 2][seed % 3]
    box = best_box(coords, classes, candidates, 8, purity, grid=6, max_wrong=max_wrong)
    expected = brute_best_box(coords, classes, candidates, purity, 6, max_wrong)
    got = None if box is None else (box.label, box.agreeing, box.segments)
    assert got == expected
    areas = rng.integers(1, 200, n).astype(np.float64)  # whole pixels: exact sums
    box = best_box(coords, classes, candidates, 8, purity, 6, max_wrong, weights=areas)
    expected = brute_best_box(coords, classes, candidates, purity, 6, max_wrong, areas)
    assert (None if box is None else (box.label, box.agreeing, box.segments)) == expected


def test_purity_by_pixels_lets_a_box_take_in_a_wrong_sliver():
    """The toy's class-1 point between the two class-0 blobs: 6 of 7 segments agree, under a
    purity of 0.9 by count; weighed by pixels, a 5-pixel sliver among six 100-pixel segments
    leaves 600 / 605 agreeing, so one box takes both blobs."""
    coords, classes = toy_projection()
    areas = np.array([100.0] * 6 + [5.0] + [100.0] * 5)
    everything = np.ones(len(coords), bool)
    by_count = best_box(coords, classes, everything, 2, purity=0.9)
    assert by_count.label == 1 and by_count.segments == (7, 8, 9, 10, 11)
    by_pixels = best_box(coords, classes, everything, 2, purity=0.9, weights=areas)
    assert by_pixels.label == 0 and by_pixels.segments == (0, 1, 2, 3, 4, 5, 6)
    assert by_pixels.agreeing == 6
    areas[6] = 100.0  # a wrong segment as large as the others is seen: 600 / 700 < 0.9
    assert best_box(coords, classes, everything, 2, 0.9, weights=areas).label == 1


def test_the_labeller_weighs_purity_by_pixels_only_when_asked():
    coords, classes = toy_projection()
    areas = np.array([100.0] * 6 + [5.0] + [100.0] * 5)
    by_pixels = BoxLabeller(PRICES, purity=0.9, purity_by="pixels")
    labels, _, boxes, _ = by_pixels.label_projection(coords, classes, 2, areas=areas)
    assert len(boxes) == 2 and labels[6] == 0  # the sliver took its box's class
    labels, _, boxes, _ = BoxLabeller(PRICES, purity=0.9).label_projection(coords, classes, 2)
    assert labels[6] == 1  # by count its box could not hold it
    with pytest.raises(ValueError, match="areas"):
        by_pixels.label_projection(coords, classes, 2)
    with pytest.raises(ConfigError, match="purity_by.*valid: segments, pixels"):
        BoxLabeller(PRICES, purity_by="area")


def test_box_geometry_contains_exactly_its_segments():
    coords, classes = toy_projection()
    box = best_box(coords, classes, np.ones(len(coords), bool), 2, purity=1.0)
    inside = (
        (coords[:, 0] >= box.x0)
        & (coords[:, 0] <= box.x1)
        & (coords[:, 1] >= box.y0)
        & (coords[:, 1] <= box.y1)
    )
    assert np.flatnonzero(inside).tolist() == list(box.segments)


def test_only_candidates_are_boxed():
    coords, classes = toy_projection()
    candidates = np.ones(len(coords), bool)
    candidates[7:] = False
    box = best_box(coords, classes, candidates, 2, purity=1.0)
    assert box.label == 0 and box.agreeing == 3 and set(box.segments) <= set(range(7))
    assert best_box(coords, classes, np.zeros(len(coords), bool), 2) is None


def test_labelling_a_projection_pays_per_box_segment_and_single():
    coords, classes = toy_projection()
    labeller = BoxLabeller(PRICES, purity=1.0)
    labels, seconds, boxes, singles = labeller.label_projection(coords, classes, 2)
    assert labels.tolist() == classes.tolist()  # purity 1: every label right
    assert [b.segments for b in boxes] == [(7, 8, 9, 10, 11), (0, 1, 2), (3, 4, 5)]
    assert singles == [6]
    expected = 3 * 5.0 + 11 * 0.5 + (2.0 + 0.5)  # three boxes, 11 boxed, one on its own
    assert seconds.sum() == pytest.approx(expected)
    assert seconds[7] == pytest.approx(5.0 / 5 + 0.5)  # its share of its box, and a look
    assert labeller.get_state() == {"boxes_drawn": 3, "clicks_made": 0}


def test_a_looser_box_is_cheaper_and_wrong_on_the_stray_point():
    coords, classes = toy_projection()
    strict = BoxLabeller(PRICES, purity=1.0).label_projection(coords, classes, 2)
    loose = BoxLabeller(PRICES, purity=0.8).label_projection(coords, classes, 2)
    assert loose[0][6] == 0 != classes[6]
    assert (loose[0] == classes).sum() == len(classes) - 1
    assert loose[1].sum() < strict[1].sum()


def test_points_that_no_pure_box_can_pair_are_labelled_one_by_one():
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    classes = np.array([0, 1, 0], np.uint8)
    labels, seconds, boxes, singles = BoxLabeller(PRICES).label_projection(coords, classes, 2)
    assert boxes == [] and singles == [0, 1, 2] and labels.tolist() == [0, 1, 0]
    assert seconds.tolist() == [2.5, 2.5, 2.5]


def test_segments_without_ground_truth_stay_unlabelled_unless_boxed():
    coords = np.array([[0.0, 0.0], [0.1, 0.0], [50.0, 50.0]])
    classes = np.array([1, 1, IGNORE], np.uint8)
    labels, seconds, _, singles = BoxLabeller(PRICES).label_projection(coords, classes, 2)
    assert labels.tolist() == [1, 1, IGNORE] and singles == [] and seconds[2] == 0


def test_same_input_same_boxes_and_state_round_trips():
    coords, classes = toy_projection()
    first, second = BoxLabeller(PRICES, purity=0.9), BoxLabeller(PRICES, purity=0.9)
    a = first.label_projection(coords, classes, 2)
    b = second.label_projection(coords, classes, 2)
    assert a[2] == b[2]
    np.testing.assert_array_equal(a[1], b[1])
    restored = BoxLabeller(PRICES)
    restored.set_state(first.get_state())
    assert restored.get_state() == first.get_state()


def test_invalid_settings_are_config_errors():
    with pytest.raises(ConfigError):
        BoxLabeller(PRICES, purity=0.0)
    with pytest.raises(KeyError):
        BoxLabeller({"feature_space_box": 1.0})


def two_class_segment():
    """A 12x16 segment, class 1 on the left 10 columns and 0 on the right; the colour follows."""
    gt = np.zeros((12, 16), np.uint8)
    gt[:, :10] = 1
    image = np.full((12, 16, 3), 40, np.uint8)
    image[:, :10] = 200
    return image, np.ones((12, 16), bool), gt


def test_a_mixed_segment_is_split_with_a_positive_and_a_negative_click():
    image, inside, gt = two_class_segment()
    split, clicks = click_split(image, inside, gt, label=1, target_accuracy=0.95)
    assert [c for _, _, c in clicks] == [1, 0]  # positive first, then the wrong part
    assert (split == gt).all()


def test_a_wrongly_boxed_pure_segment_is_fixed_with_one_click():
    image, inside, _ = two_class_segment()
    gt = np.zeros((12, 16), np.uint8)
    split, clicks = click_split(image, inside, gt, label=1)
    assert len(clicks) == 1 and (split == 0).all()


def test_a_segment_boxed_with_its_minority_class_is_relabelled_by_the_first_click():
    image, inside, gt = two_class_segment()  # 10 columns of class 1, 6 of class 0
    split, clicks = click_split(image, inside, gt, label=0, target_accuracy=0.6)
    assert [c for _, _, c in clicks] == [1]  # the majority's class: the whole segment
    assert (split == 1).all()
    split, clicks = click_split(image, inside, gt, label=0, target_accuracy=0.95)
    assert [c for _, _, c in clicks] == [1, 0]  # then the part that is still wrong
    assert (split == gt).all()


def test_one_allowed_click_is_not_spent_on_a_segment_it_cannot_fix():
    image, inside, gt = two_class_segment()
    split, clicks = click_split(image, inside, gt, label=1, max_clicks=1)
    assert clicks == [] and (split == 1).all()  # a keep click alone would change nothing
    split, clicks = click_split(image, inside, gt, label=0, max_clicks=1)
    assert [c for _, _, c in clicks] == [1] and (split == 1).all()


def test_clicks_stop_at_the_cap():
    image, inside, gt = two_class_segment()
    flat = np.zeros_like(image)  # no edge to follow: the clicks cannot reach the target
    _, clicks = click_split(flat, inside, gt, 1, target_accuracy=1.0, max_clicks=3)
    assert len(clicks) == 3  # the target is out of reach: every allowed click is spent


def test_needs_split_decides_from_class_counts():
    labeller = BoxLabeller(PRICES, split_below=0.8, min_split_pixels=10)
    assert labeller.needs_split(np.array([60, 40]), 0)  # mixed, 40 wrong
    assert not labeller.needs_split(np.array([95, 5]), 0)  # pure enough
    assert labeller.needs_split(np.array([0, 50]), 0)  # pure but boxed with another class
    assert not labeller.needs_split(np.array([6, 4]), 0)  # too few wrong pixels to bother
    assert not labeller.needs_split(np.array([60, 40]), IGNORE)


def test_label_segments_end_to_end_on_a_tiny_pool():
    """Two images, each cut into a left and a right segment; the right segment of image 1 mixes
    classes and is split with clicks."""
    images = np.zeros((2, 12, 16, 3), np.uint8)
    images[:, :, 8:] = 200
    segments = np.zeros((2, 12, 16), np.int32)
    segments[0, :, 8:] = 1
    segments[1] = 2
    segments[1, :, 8:] = 3
    segment_image = np.array([0, 0, 1, 1])
    masks = np.zeros((2, 12, 16), np.uint8)
    masks[:, :, 8:] = 1
    masks[1, :4, 8:] = 0  # segment 3: top third class 0, the rest class 1
    images[1, :4, 8:] = 60
    coords = np.array([[0.0, 0.0], [5.0, 5.0], [0.2, 0.0], [5.1, 5.0]])
    labeller = BoxLabeller(PRICES, purity=1.0, min_split_pixels=8)
    result = labeller.label_segments(
        coords, np.arange(4), segments, segment_image, images, masks, 2
    )
    assert result.segment_labels.tolist() == [0, 1, 0, 1]
    assert list(result.splits) == [3]
    split = result.splits[3]
    assert split.box == (0, 8, 12, 16)
    assert (split.labels == masks[1, :, 8:]).all()
    assert result.total_seconds == pytest.approx(2 * 5.0 + 4 * 0.5 + len(split.clicks) * 1.0)


def test_action_counts_and_their_price_match_the_seconds_paid():
    """The same tiny pool: the counted actions, priced, are exactly what the labelling paid."""
    images = np.zeros((1, 8, 16, 3), np.uint8)
    segments = np.zeros((1, 8, 16), np.int32)
    segments[0, :, 4:8], segments[0, :, 8:12], segments[0, :, 12:] = 1, 2, 3
    masks = np.zeros((1, 8, 16), np.uint8)
    masks[0, :, 8:12] = 1  # segment 2 is class 1, the others class 0
    coords = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [10.0, 0.0]])  # 2 parts 3 from 0,1
    result = BoxLabeller(PRICES, purity=1.0).label_segments(
        coords, np.arange(4), segments, np.zeros(4, np.int64), images, masks, 2
    )
    counts = result.action_counts()
    assert counts == {"boxes": 1, "segments": 4, "singles": 2, "clicks": 0}
    assert priced_seconds(counts, PRICES) == pytest.approx(result.total_seconds)
    assert result.total_seconds == pytest.approx(5.0 + 4 * 0.5 + 2 * 2.0)


def test_price_scale_fit_on_a_hand_computed_case():
    """Actions (boxes, segments, clicks): clicks kept at 1 s, boxes and segments at 10 : 1.
    Run A: 2 boxes, 10 segments, 3 clicks = 30 s -> 3 + s * (20 + 10) = 30 -> s = 0.9.
    Run B alone: 1 box, 0 segments, 0 clicks = 5 s -> s = 0.5. Together: least squares over
    a = (30, 10), b = (27, 5): s = (30 * 27 + 10 * 5) / (900 + 100) = 0.86."""
    fixed, scaled = np.array([0.0, 0.0, 1.0]), np.array([10.0, 1.0, 0.0])
    scale, residual = fit_price_scale([[2, 10, 3]], fixed, scaled, [30.0])
    assert scale == pytest.approx(0.9) and residual == pytest.approx(0.0, abs=1e-12)
    scale, residual = fit_price_scale([[2, 10, 3], [1, 0, 0]], fixed, scaled, [30.0, 5.0])
    assert scale == pytest.approx(0.86)
    errors = np.array([3 + 0.86 * 30 - 30, 0.86 * 10 - 5])
    assert residual == pytest.approx(np.sqrt(np.mean(errors**2)))


def test_price_scale_is_never_negative():
    """The kept prices alone already exceed the target: the scale stops at 0, the gap remains."""
    scale, residual = fit_price_scale([[1, 1]], np.array([0.0, 20.0]), np.array([1.0, 0.0]), [8])
    assert scale == 0.0 and residual == pytest.approx(12.0)


def test_price_scale_fit_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="do not match"):
        fit_price_scale([[1, 2]], np.zeros(3), np.ones(3), [1.0])


def test_zoom_tiles_halve_at_the_median_of_the_wider_side():
    coords = np.array([[x, 0.1 * x] for x in range(8)], np.float64)
    tiles = zoom_tiles(coords, 2)
    assert [np.flatnonzero(t).tolist() for t in tiles] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert zoom_tiles(coords, 8)[0].all() and len(zoom_tiles(coords, 8)) == 1


def test_zooming_in_boxes_what_the_coarse_grid_cannot_separate():
    """Classes 0,0,1,1,0,0,1,1 along a line with a 2x2 grid: no cell of the whole view is pure,
    so without zoom all 8 are labelled alone; zoomed to tiles of 2, each pair is one box."""
    coords = np.array([[x, 0.0] for x in range(8)], np.float64)
    classes = np.array([0, 0, 1, 1, 0, 0, 1, 1], np.uint8)
    plain = BoxLabeller(PRICES, purity=1.0, grid=2)
    labels, _, boxes, singles = plain.label_projection(coords, classes, 2)
    assert boxes == [] and singles == list(range(8))
    zoomed = BoxLabeller(PRICES, purity=1.0, grid=2, zoom_points=2)
    labels, seconds, boxes, singles = zoomed.label_projection(coords, classes, 2)
    assert singles == [] and [b.segments for b in boxes] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert (labels == classes).all()
    assert seconds.sum() == pytest.approx(4 * 5.0 + 8 * 0.5)


def interleaved_with_a_pair():
    """Points 0-3 on a diagonal alternate classes (no pure box pairs two of them); points 4, 5
    are a class-0 pair far away: the first view holds exactly one box."""
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [10.0, 10.0], [10.1, 10.0]])
    classes = np.array([0, 1, 0, 1, 0, 0], np.uint8)
    return coords, classes


class FakeReprojection:
    """Records what it is given; places the points by ``layout`` (their class, or unchanged)."""

    def __init__(self, coords, classes, separate=True):
        self.coords, self.classes, self.separate = coords, classes, separate
        self.calls = []

    def __call__(self, labels, remaining):
        self.calls.append((labels.copy(), remaining.copy()))
        if not self.separate:
            return self.coords
        return np.stack([self.classes * 10.0, np.arange(len(self.classes)) * 0.1], axis=1)


def test_a_reprojection_after_the_first_pass_lets_the_rest_be_boxed():
    coords, classes = interleaved_with_a_pair()
    alone = BoxLabeller(PRICES, purity=1.0).label_projection(coords, classes, 2)
    assert len(alone[2]) == 1 and alone[3] == [0, 1, 2, 3]
    reproject = FakeReprojection(coords, classes)
    labeller = BoxLabeller(PRICES, purity=1.0, metric_rounds=3)
    labels, seconds, boxes, singles = labeller.label_projection(coords, classes, 2, reproject)
    assert labels.tolist() == classes.tolist() and singles == []
    assert [b.segments for b in boxes] == [(4, 5), (0, 2), (1, 3)]
    # once, after the first pass: the labels so far and what remains; then nothing was left
    assert labeller.reprojections == 1 and len(reproject.calls) == 1
    given, remaining = reproject.calls[0]
    assert given.tolist() == [IGNORE] * 4 + [0, 0] and remaining.tolist() == [1] * 4 + [0, 0]
    assert seconds.sum() == pytest.approx(3 * 5.0 + 6 * 0.5)  # the re-projection costs nothing


def test_reprojection_stops_once_a_new_view_yields_no_box():
    coords, classes = interleaved_with_a_pair()
    reproject = FakeReprojection(coords, classes, separate=False)
    labeller = BoxLabeller(PRICES, purity=1.0, metric_rounds=5)
    _, _, boxes, singles = labeller.label_projection(coords, classes, 2, reproject)
    assert len(boxes) == 1 and singles == [0, 1, 2, 3]
    assert labeller.reprojections == 1  # the second view held no box: no third


def test_reproject_every_ends_a_pass_early_and_rounds_are_capped():
    coords, classes = toy_projection()  # three boxes in one view at purity 1
    reproject = FakeReprojection(coords, classes, separate=False)
    labeller = BoxLabeller(PRICES, purity=1.0, metric_rounds=2, reproject_every=1)
    _, _, boxes, _ = labeller.label_projection(coords, classes, 2, reproject)
    assert len(boxes) == 3 and labeller.reprojections == 2
    # labels only grow: each re-projection sees one box more than the one before
    labelled = [int((given != IGNORE).sum()) for given, _ in reproject.calls]
    assert labelled == [5, 8]


def test_metric_rounds_need_a_reprojection_and_sane_settings():
    coords, classes = toy_projection()
    with pytest.raises(ValueError, match="reproject"):
        BoxLabeller(PRICES, metric_rounds=1).label_projection(coords, classes, 2)
    with pytest.raises(ConfigError, match="metric_rounds"):
        BoxLabeller(PRICES, metric_rounds=-1)
    with pytest.raises(ConfigError, match="reproject_every"):
        BoxLabeller(PRICES, metric_rounds=1, reproject_every=0)
