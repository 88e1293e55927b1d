"""The whole pool's hand-labelling cost: a dense cost per image, or a polygon per object."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.core.cost import CostTable
from al_loop.data.base import DENSE_COST, IGNORE, ClassInfo, SegmentationData
from al_loop.wiring.pool_cost import count_objects, whole_pool_cost

CLASSES = [ClassInfo(f"c{i}", (i, i, i)) for i in range(3)]


def pool(masks, **meta):
    masks = np.asarray(masks, np.uint8)
    images = np.zeros((*masks.shape, 3), np.uint8)
    return SegmentationData([f"i{k}" for k in range(len(masks))], images, masks, CLASSES, "t", meta)


def test_count_objects_by_hand():
    mask = np.zeros((6, 6), np.uint8)
    mask[0:2, 0:2] = 1  # object 1 (4 px)
    mask[2, 2] = 1  # touches diagonally: the same object (8-connectivity)
    mask[4:6, 4:6] = 1  # object 2
    mask[0:2, 4:6] = 2  # object 3 (class 2)
    mask[5, 0] = 2  # 1 px: too small at min_pixels 2
    mask[3, 0] = IGNORE  # void is no object
    assert count_objects(mask, min_pixels=2) == 3
    assert count_objects(mask, min_pixels=1) == 4
    assert count_objects(np.zeros((3, 3), np.uint8)) == 0  # background only


def test_polygons_per_object_without_a_dense_cost():
    cost = CostTable.load()
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[0, :4, :4] = 1
    masks[0, 5:, 5:] = 2
    masks[1, 2:6, 2:6] = 1
    whole = whole_pool_cost(pool(masks), cost, min_instance_pixels=4)
    assert whole["seconds"] == pytest.approx(3 * cost["polygon_instance"])
    assert whole["basis"] == "polygon_instance: 3 objects x 79.2 s"


def test_a_dense_cost_per_image_wins():
    cost = CostTable.load()
    whole = whole_pool_cost(pool(np.ones((5, 4, 4)), **{DENSE_COST: "dense_camvid"}), cost)
    assert whole["seconds"] == 5 * cost["dense_camvid"] and whole["assumption"] is True
    assert whole["basis"].startswith("dense_camvid: 5 images x")


def test_a_pool_without_ground_truth_has_no_whole_cost():
    data = SegmentationData(["a"], np.zeros((1, 2, 2, 3), np.uint8), None, CLASSES, "t")
    assert whole_pool_cost(data, CostTable.load()) is None


def test_without_a_background_class_every_class_counts_as_objects():
    mask = np.zeros((20, 20), np.uint8)
    mask[:, 10:] = 1
    assert count_objects(mask, 16) == 1
    assert count_objects(mask, 16, background=None) == 2
