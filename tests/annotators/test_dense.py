"""Dense labelling: the unit's ground truth exactly, void kept, priced by its share of an image."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.annotators.dense import DenseAnnotator
from al_loop.core.config import parse_config
from al_loop.core.cost import CostTable
from al_loop.core.errors import ConfigError
from al_loop.core.units import Unit
from al_loop.data.base import IGNORE
from al_loop.wiring.build import build_annotator

X = IGNORE
MASKS = np.array([[[0, 1, 1, 2], [X, 1, 2, 2]]], np.uint8)  # one 2x4 image
IMAGE = np.zeros((2, 4, 3), np.uint8)


def test_a_whole_image_is_its_ground_truth_at_the_price_of_one_image():
    annotation = DenseAnnotator(MASKS, 1200.0, "dense_camvid").annotate(
        Unit(0, 0), IMAGE, (0, 0, 2, 4), np.ones((2, 4), bool)
    )
    assert annotation.mask.tolist() == MASKS[0].tolist()  # void stays void
    assert annotation.seconds == 1200.0 and annotation.method == "dense"
    (log,) = annotation.interactions
    assert (log["painted_pixels"], log["labelled_pixels"], log["entry"]) == (8, 7, "dense_camvid")


def test_a_smaller_unit_pays_its_share_of_the_image_and_labels_only_its_pixels():
    unit_mask = np.array([[True, True], [False, True]])  # 3 of the image's 8 pixels
    annotation = DenseAnnotator(MASKS, 800.0).annotate(Unit(0, 1), IMAGE, (0, 2, 2, 4), unit_mask)
    assert annotation.mask.tolist() == [[1, 2], [X, 2]]
    assert annotation.seconds == pytest.approx(300.0)


def test_built_from_the_config_with_the_cost_tables_entry():
    config = parse_config({"annotation": {"method": "dense", "params": {"entry": "dense_camvid"}}})
    annotator = build_annotator(config, MASKS)
    assert annotator.seconds_per_image == CostTable.load(config.annotation.costs)["dense_camvid"]


@pytest.mark.parametrize(
    "params, named",
    [
        ({}, "'entry'"),
        ({"entry": "dense_camvdi"}, "'dense_camvdi'"),
        ({"entry": "x", "p": 1}, "'p'"),
    ],
)
def test_a_missing_or_unknown_entry_or_param_is_a_config_error_naming_it(params, named):
    config = parse_config({"annotation": {"method": "dense", "params": params}})
    with pytest.raises(ConfigError, match=named):
        build_annotator(config, MASKS)
