"""Segments (superpixels) from a hierarchical watershed (higra), cut at a user-set level.

Shared by superpixel units (strategies) and feature-space annotation. Pure functions:
image (and optionally a gradient, e.g. the segmenter's boundary probability) -> label map.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import higra as hg
import numpy as np

from al_loop.core.errors import ConfigError

HIERARCHIES: dict[str, Callable] = {
    "area": hg.watershed_hierarchy_by_area,
    "volume": hg.watershed_hierarchy_by_volume,
    "dynamics": hg.watershed_hierarchy_by_dynamics,
}


def image_gradient(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """float32 [H,W]: Scharr magnitude of the Gaussian-smoothed image, max over channels."""
    smooth = image.astype(np.float32)
    if sigma > 0:
        smooth = cv2.GaussianBlur(smooth, (0, 0), sigma)
    gx = cv2.Scharr(smooth, cv2.CV_32F, 1, 0)
    gy = cv2.Scharr(smooth, cv2.CV_32F, 0, 1)
    magnitude = np.hypot(gx, gy)
    return magnitude.max(axis=-1) if magnitude.ndim == 3 else magnitude


def probability_gradient(probs: np.ndarray) -> np.ndarray:
    """float32 [H,W]: a learned boundary, the Scharr magnitude of a segmenter's class
    probabilities [C,H,W] (max over classes): high where the model's decision changes, zero
    where it is sure of one class."""
    return image_gradient(np.moveaxis(np.asarray(probs, np.float32) * 255.0, 0, -1), sigma=0.0)


def mixed_gradient(image_grad: np.ndarray, learned: np.ndarray, weight: float) -> np.ndarray:
    """float32 [H,W]: ``(1 - weight) * image_grad + weight * learned``, each over its 99th
    percentile first so that the two mix on one scale. The learned boundary alone is flat
    inside regions the model is sure of, where the image's edges still cut segments apart."""
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(
            f"segments: the learned boundary's weight must be in [0, 1], got {weight}"
        )

    def scaled(g: np.ndarray) -> np.ndarray:
        g = np.asarray(g, np.float32)
        return g / max(float(np.percentile(g, 99)), 1e-6)

    return (1.0 - weight) * scaled(image_grad) + weight * scaled(learned)


def hierarchical_segments(
    image: np.ndarray,
    criterion: str = "area",
    threshold: float | None = None,
    num_regions: int | None = None,
    gradient: np.ndarray | None = None,
    sigma: float = 1.0,
) -> np.ndarray:
    """int32 [H,W] segment ids 0..K-1 from a watershed hierarchy cut.

    Cut either at an altitude ``threshold`` (for ``area``: regions smaller than this many pixels
    are merged away) or at ``num_regions`` regions; exactly one must be given.
    """
    if criterion not in HIERARCHIES:
        raise ConfigError(
            f"segments.criterion: unknown '{criterion}'; valid: {', '.join(sorted(HIERARCHIES))}"
        )
    if (threshold is None) == (num_regions is None):
        raise ConfigError("segments: give exactly one of threshold or num_regions")
    shape = image.shape[:2]
    graph = hg.get_4_adjacency_graph(shape)
    if gradient is None:
        # colour distance between neighbours of the smoothed image: flat regions get zero-weight
        # edges inside and merge first, with no plateau ties for the watershed to break
        smooth = image.astype(np.float32)
        if sigma > 0:
            smooth = cv2.GaussianBlur(smooth, (0, 0), sigma)
        edge_weights = hg.weight_graph(graph, smooth, hg.WeightFunction.L2)
    else:
        gradient = np.asarray(gradient, dtype=np.float32)
        edge_weights = hg.weight_graph(graph, gradient, hg.WeightFunction.mean)
    tree, altitudes = HIERARCHIES[criterion](graph, edge_weights)
    if threshold is not None:
        labels = hg.labelisation_horizontal_cut_from_threshold(tree, altitudes, float(threshold))
    else:
        cut = hg.HorizontalCutExplorer(tree, altitudes).horizontal_cut_from_num_regions(
            int(num_regions)
        )
        labels = cut.labelisation_leaves(tree)
    return relabel_consecutive(np.asarray(labels).reshape(shape))


def relabel_consecutive(labels: np.ndarray) -> np.ndarray:
    """Ids 0..K-1 in order of first appearance in raster order (deterministic)."""
    _, first, inverse = np.unique(labels.ravel(), return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int32)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first), dtype=np.int32)
    return rank[inverse].reshape(labels.shape)


def classes_in(masks: np.ndarray, ignore: int = 255) -> int:
    """How many classes label maps use: the largest class id + 1 (1 when nothing is labelled)."""
    valid = masks[masks != ignore]
    return int(valid.max()) + 1 if valid.size else 1


def class_counts(
    segments: np.ndarray, mask: np.ndarray, num_classes: int, ignore: int = 255
) -> np.ndarray:
    """int64 [K, num_classes]: labelled pixels of each class in each segment 0..K-1 (pixels
    with a negative segment id or an ``ignore`` label are skipped)."""
    valid = (segments >= 0) & (mask != ignore)
    k = int(segments.max()) + 1 if segments.size and segments.max() >= 0 else 0
    counts = np.zeros((k, num_classes), dtype=np.int64)
    np.add.at(counts, (segments[valid], mask[valid].astype(np.int64)), 1)
    return counts


def majority_of(counts: np.ndarray, ignore: int = 255) -> np.ndarray:
    """uint8 [K]: each row's most frequent class (ties: the lower id); ``ignore`` for an empty
    row."""
    out = counts.argmax(axis=1).astype(np.uint8) if len(counts) else np.zeros(0, np.uint8)
    out[counts.sum(axis=1) == 0] = ignore
    return out


def majority_labels(
    segments: np.ndarray, mask: np.ndarray, num_classes: int, ignore: int = 255
) -> np.ndarray:
    """Per segment, its most frequent class in ``mask`` (``ignore`` pixels skipped; ``ignore``
    for a segment with no labelled pixel). The upper bound of any segment-level labelling."""
    return majority_of(class_counts(segments, mask, num_classes, ignore), ignore)
