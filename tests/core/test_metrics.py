"""Metrics against cases small enough to compute by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from al_loop.core.metrics import (
    binary_iou,
    clicks_to_iou,
    confusion_matrix,
    dice_per_class,
    iou_per_class,
    mean_dice,
    mean_iou,
    pixel_accuracy,
    unpredicted_classes,
    weighted_iou,
)

# 2x3 image, last pixel ignored. Counted pixels (target, pred): (0,0) (1,0) (1,1) (1,1) (2,2)
PRED = np.array([[0, 0, 1], [1, 2, 2]], np.uint8)
TARGET = np.array([[0, 1, 1], [1, 2, 255]], np.uint8)
CM = np.array([[1, 0, 0], [1, 2, 0], [0, 0, 1]])


def test_confusion_matrix_by_hand():
    np.testing.assert_array_equal(confusion_matrix(PRED, TARGET, 3), CM)


def test_confusion_matrix_batch_is_sum_of_images():
    pred = np.stack([PRED, PRED[:, ::-1]])
    target = np.stack([TARGET, TARGET])
    expected = confusion_matrix(pred[0], target[0], 3) + confusion_matrix(pred[1], target[1], 3)
    np.testing.assert_array_equal(confusion_matrix(pred, target, 3), expected)


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(PRED, TARGET[:, :2], 3)
    with pytest.raises(ValueError, match="target classes"):
        confusion_matrix(PRED, TARGET, 2)  # target holds class 2
    with pytest.raises(ValueError, match="predicted classes"):
        confusion_matrix(PRED + 1, TARGET, 3)


def test_iou_and_dice_by_hand():
    # IoU_c = TP / (row + col - TP): 1/(1+2-1), 2/(3+2-2), 1/(1+1-1)
    np.testing.assert_allclose(iou_per_class(CM), [1 / 2, 2 / 3, 1.0])
    assert mean_iou(CM) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    # Dice_c = 2 TP / (row + col): 2/3, 4/5, 2/2
    np.testing.assert_allclose(dice_per_class(CM), [2 / 3, 4 / 5, 1.0])
    assert mean_dice(CM) == pytest.approx((2 / 3 + 4 / 5 + 1) / 3)
    assert pixel_accuracy(CM) == pytest.approx(4 / 5)


def test_absent_class_is_nan_and_left_out_of_the_mean():
    cm = confusion_matrix(PRED, TARGET, 4)  # class 3 appears nowhere
    assert np.isnan(iou_per_class(cm)[3]) and np.isnan(dice_per_class(cm)[3])
    assert mean_iou(cm) == pytest.approx(mean_iou(CM))


def test_class_only_predicted_scores_zero():
    cm = confusion_matrix(np.array([0, 1]), np.array([0, 0]), 2)
    np.testing.assert_allclose(iou_per_class(cm), [0.5, 0.0])


def test_empty_confusion_matrix_gives_nan_without_warning():
    cm = np.zeros((3, 3), np.int64)
    with np.errstate(all="raise"):
        assert math.isnan(mean_iou(cm)) and math.isnan(pixel_accuracy(cm))


def test_weighted_iou_by_hand():
    freq = np.array([0.2, 0.6, 0.2])
    w0, w1 = 1 / math.log(1.22), 1 / math.log(1.62)  # 5.0289, 2.0729
    expected = (w0 * 1 / 2 + w1 * 2 / 3 + w0 * 1.0) / (2 * w0 + w1)
    assert weighted_iou(CM, freq) == pytest.approx(expected)
    assert expected == pytest.approx(0.735760, abs=1e-6)


def test_weighted_iou_favours_rare_classes():
    # Same IoUs, but when class 0 (IoU 0.5) is the rare one the score drops.
    rare_first = weighted_iou(CM, np.array([0.01, 0.49, 0.5]))
    common_first = weighted_iou(CM, np.array([0.9, 0.05, 0.05]))
    assert rare_first < common_first


def test_binary_iou():
    pred = np.array([1, 1, 0, 0], bool)
    gt = np.array([0, 1, 1, 0], bool)
    assert binary_iou(pred, gt) == pytest.approx(1 / 3)
    assert binary_iou(pred, gt, ignore_mask=np.array([1, 0, 0, 0], bool)) == pytest.approx(1 / 2)
    empty = np.zeros(4, bool)
    assert binary_iou(empty, empty) == 1.0
    assert binary_iou(empty, gt) == 0.0
    assert binary_iou(pred, gt, ignore_mask=np.ones(4, bool)) == 1.0  # nothing left to score


def test_clicks_to_iou():
    assert clicks_to_iou([0.5, 0.86, 0.91], 0.85) == 2
    assert clicks_to_iou([0.5, 0.86, 0.91], 0.90) == 3
    assert clicks_to_iou([0.5, 0.6], 0.90, max_clicks=20) == 20
    assert clicks_to_iou([0.5, 0.95], 0.90, max_clicks=1) == 1  # click 2 is past the cap


@pytest.mark.parametrize(
    ("confusion", "missing"),
    [
        ([[90, 0], [10, 0]], [1]),  # 10 % foreground, never predicted: collapsed
        ([[90, 0], [4, 6]], []),  # predicted at least once
        ([[97, 0], [3, 0]], []),  # 3 % < 5 %: a rare class not learned yet, not a collapse
        ([[0, 0], [0, 0]], []),  # nothing to judge
        ([[50, 0, 0], [0, 40, 0], [10, 0, 0]], [2]),  # three classes, the last one missing
    ],
)
def test_unpredicted_classes_are_frequent_classes_never_predicted(confusion, missing):
    assert unpredicted_classes(np.array(confusion)) == missing
