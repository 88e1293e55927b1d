"""Segmentation metrics as pure numpy functions over a confusion matrix.

Convention: ``cm[t, p]`` counts pixels of true class ``t`` predicted as ``p``; pixels whose
target is ``ignore`` are not counted. Classes absent from both target and prediction have no
defined IoU/Dice (NaN) and are left out of the means.
"""

from __future__ import annotations

import numpy as np

from al_loop.data.base import IGNORE


def confusion_matrix(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore: int = IGNORE
) -> np.ndarray:
    """int64 [C, C] confusion matrix of class maps [H,W] or [N,H,W] (one bincount pass)."""
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} differ in shape")
    valid = target != ignore
    t = target[valid].astype(np.int64)
    p = pred[valid].astype(np.int64)
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"target classes must be in [0, {num_classes}) or {ignore}")
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        raise ValueError(f"predicted classes must be in [0, {num_classes})")
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def unpredicted_classes(confusion: np.ndarray, min_share: float = 0.05) -> list[int]:
    """Classes that make at least ``min_share`` of the target pixels of a confusion matrix
    (rows: target, columns: prediction) yet are never predicted: the mark of a collapsed fit,
    not of a rare class the model has not learned yet (those stay under ``min_share``)."""
    confusion = np.asarray(confusion)
    target, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    total = target.sum()
    if total == 0:
        return []
    return [int(c) for c in np.flatnonzero((target >= min_share * total) & (predicted == 0))]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den == 0 (and no RuntimeWarning)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """float64 [C]: TP / (TP + FP + FN); NaN for a class absent in target and prediction."""
    tp = np.diag(cm)
    return _ratio(tp, cm.sum(axis=0) + cm.sum(axis=1) - tp)


def mean_iou(cm: np.ndarray) -> float:
    return _nanmean(iou_per_class(cm))


def dice_per_class(cm: np.ndarray) -> np.ndarray:
    """float64 [C]: 2 TP / (2 TP + FP + FN); NaN for a class absent in target and prediction."""
    return _ratio(2 * np.diag(cm), cm.sum(axis=0) + cm.sum(axis=1))


def mean_dice(cm: np.ndarray) -> float:
    return _nanmean(dice_per_class(cm))


def pixel_accuracy(cm: np.ndarray) -> float:
    return float(_ratio(np.trace(cm), cm.sum()))


def weighted_iou(cm: np.ndarray, class_freq: np.ndarray) -> float:
    """IoU averaged with ENet class weights w_c = 1 / ln(1.02 + f_c), f_c = pixel frequency.

    Rare classes weigh up to ~50x more than a class covering everything (RALis' target).
    Classes with undefined IoU are left out of both sums.
    """
    freq = np.asarray(class_freq, np.float64)
    iou = iou_per_class(cm)
    if freq.shape != iou.shape:
        raise ValueError(f"class_freq has {freq.shape[0]} entries, cm has {iou.shape[0]} classes")
    weights = 1.0 / np.log(1.02 + freq)
    defined = ~np.isnan(iou)
    if not defined.any():
        return float("nan")
    return float((weights[defined] * iou[defined]).sum() / weights[defined].sum())


def binary_iou(pred: np.ndarray, gt: np.ndarray, ignore_mask: np.ndarray | None = None) -> float:
    """IoU of two bool masks, skipping ``ignore_mask`` pixels; two empty masks score 1.0."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if ignore_mask is not None:
        keep = ~np.asarray(ignore_mask, bool)
        pred, gt = pred & keep, gt & keep
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return np.count_nonzero(pred & gt) / union


def clicks_to_iou(ious: list[float] | np.ndarray, target: float, max_clicks: int = 20) -> int:
    """NoC: 1-based index of the first click whose IoU reaches ``target``, else ``max_clicks``.

    ``ious[k]`` is the IoU after click k+1 (standard NoC@85 / NoC@90 protocol, cap 20).
    """
    for k, iou in enumerate(ious[:max_clicks]):
        if iou >= target:
            return k + 1
    return max_clicks
