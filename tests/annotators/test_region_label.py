"""Region labelling: one click per region, its majority class; void stays void; hand-computed."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.annotators.region_label import RegionLabelAnnotator, region_majority
from al_loop.core.config import parse_config
from al_loop.core.cost import CostTable
from al_loop.core.errors import ConfigError
from al_loop.core.units import Unit
from al_loop.data.base import IGNORE
from al_loop.wiring.build import build_annotator

X = IGNORE
PRICE = 2.5


def test_region_majority_by_hand():
    regions = np.array([[0, 0, 1, 1], [0, 0, 1, -1], [2, 2, 2, -1]])
    gt = np.array([[3, 3, 1, 2], [1, X, 2, 0], [X, X, X, 0]], np.uint8)
    labels, purity, labelled = region_majority(regions, gt, num_classes=4)
    # region 0: 3,3,1 -> 3 (2/3); region 1: 1,2,2 -> 2 (2/3); region 2: void only
    assert labels.tolist() == [3, 2, IGNORE]
    np.testing.assert_allclose(purity, [2 / 3, 2 / 3, 0.0])
    assert labelled.tolist() == [3, 3, 0]
    # a tie goes to the lower class id
    assert region_majority(np.zeros((1, 2), int), np.array([[2, 1]], np.uint8), 3)[0][0] == 1


def one_region_annotator(masks, **kw):
    return RegionLabelAnnotator(masks, PRICE, num_classes=3, split=False, **kw)


def test_a_superpixel_unit_is_one_click_of_its_majority_class():
    masks = np.array([[[0, 0, 1, 2], [0, X, 1, 2]]], np.uint8)
    unit_mask = np.array([[True, True, True], [True, True, True]])  # box columns 0..2
    annotation = one_region_annotator(masks).annotate(
        Unit(0, 4), np.zeros((2, 4, 3), np.uint8), (0, 0, 2, 3), unit_mask
    )
    # labelled pixels 0,0,1,0,1 -> class 0 (purity 3/5); the void pixel stays void
    assert annotation.mask.tolist() == [[0, 0, 0], [0, X, 0]]
    assert annotation.seconds == PRICE and len(annotation.interactions) == 1
    click = annotation.interactions[0]
    assert click["type"] == "SegmentLabel" and click["label"] == 0 and click["purity"] == 0.6
    assert annotation.method == "region_label" and annotation.unit == Unit(0, 4)


def test_pixels_outside_the_unit_are_not_labelled():
    masks = np.array([[[1, 1], [2, 1]]], np.uint8)
    unit_mask = np.array([[True, False], [True, True]])
    annotation = one_region_annotator(masks).annotate(
        Unit(0, 0), np.zeros((2, 2, 3), np.uint8), (0, 0, 2, 2), unit_mask
    )
    assert annotation.mask.tolist() == [[1, X], [1, 1]]  # 1,2,1 -> 1; (0,1) is not the unit's


def test_a_mixed_region_below_min_purity_is_paid_but_left_unlabelled():
    masks = np.array([[[0, 1, 1, 2, 0]]], np.uint8)
    unit_mask = np.ones((1, 5), bool)
    annotation = one_region_annotator(masks, min_purity=0.5).annotate(
        Unit(0, 0), np.zeros((1, 5, 3), np.uint8), (0, 0, 1, 5), unit_mask
    )
    assert (annotation.mask == X).all() and annotation.seconds == PRICE  # purity 0.4 < 0.5
    assert annotation.interactions[0]["class"] == 0 and annotation.interactions[0]["label"] == X


def test_an_all_void_unit_costs_nothing():
    masks = np.full((1, 3, 3), X, np.uint8)
    annotation = one_region_annotator(masks).annotate(
        Unit(0, 0), np.zeros((3, 3, 3), np.uint8), (0, 0, 3, 3), np.ones((3, 3), bool)
    )
    assert (
        annotation.seconds == 0 and annotation.interactions == [] and (annotation.mask == X).all()
    )


def two_halves():
    """A 4x8 image: black left half, white right half; GT 2 on the left, 1 on the right except
    one pixel of class 0 on the right and one void pixel on the left."""
    image = np.zeros((4, 8, 3), np.uint8)
    image[:, 4:] = 255
    gt = np.full((4, 8), 1, np.uint8)
    gt[:, :4] = 2
    gt[0, 7] = 0
    gt[3, 0] = X
    return image, gt[None]


def test_a_grid_cell_is_cut_into_regions_one_click_each():
    image, masks = two_halves()
    annotator = RegionLabelAnnotator(masks, PRICE, num_classes=3, split=True, threshold=4)
    annotation = annotator.annotate(Unit(0, 0), image, (0, 0, 4, 8), np.ones((4, 8), bool))
    expected = np.full((4, 8), 1, np.uint8)
    expected[:, :4] = 2
    expected[3, 0] = X  # void stays void; the class-0 pixel takes its region's class
    assert annotation.mask.tolist() == expected.tolist()
    assert annotation.seconds == 2 * PRICE
    assert sorted(c["class"] for c in annotation.interactions) == [1, 2]
    again = annotator.annotate(Unit(0, 0), image, (0, 0, 4, 8), np.ones((4, 8), bool))
    assert again.interactions == annotation.interactions  # deterministic


def test_a_box_inside_the_image_is_cut_on_its_own_pixels():
    image, masks = two_halves()
    annotator = RegionLabelAnnotator(masks, PRICE, num_classes=3, split=True, threshold=4)
    annotation = annotator.annotate(Unit(0, 1), image, (0, 4, 4, 8), np.ones((4, 4), bool))
    assert annotation.seconds == PRICE and annotation.mask.tolist() == [[1] * 4] * 4
    assert annotation.interactions[0]["x"] >= 4  # logged in image coordinates


def config(kind: str, **params):
    return parse_config(
        {"units": {"kind": kind}, "annotation": {"method": "region_label", "params": params}}
    )


def test_the_builder_cuts_rectangles_and_keeps_segments_whole():
    # two flat halves: a rectangular unit over both is cut in two regions (two clicks); a
    # non-rectangular unit (a superpixel's shape) is one region whatever it covers
    image = np.zeros((4, 8, 3), np.uint8)
    image[:, 4:] = 200
    masks = np.zeros((1, 4, 8), np.uint8)
    masks[0, :, 4:] = 1
    annotator = build_annotator(config("superpixel", threshold=4), masks)
    assert isinstance(annotator, RegionLabelAnnotator)
    assert annotator.price == CostTable.load()["region_label"]
    rectangle = annotator.annotate(Unit(0, 0), image, (0, 0, 4, 8), np.ones((4, 8), bool))
    segment = np.ones((4, 8), bool)
    segment[0, 0] = False
    shaped = annotator.annotate(Unit(0, 0), image, (0, 0, 4, 8), segment)
    assert len(rectangle.interactions) == 2 and len(shaped.interactions) == 1


def test_bad_params_are_config_errors():
    masks = np.zeros((1, 4, 4), np.uint8)
    with pytest.raises(ConfigError, match="annotation.params for 'region_label'"):
        build_annotator(config("grid", colour="red"), masks)
    with pytest.raises(ConfigError, match=r"annotation\.params\.min_purity: must be in \[0, 1\]"):
        build_annotator(config("grid", min_purity=2), masks)
    with pytest.raises(ConfigError, match=r"annotation\.params\.criterion: unknown 'size'"):
        build_annotator(config("grid", criterion="size"), masks)
