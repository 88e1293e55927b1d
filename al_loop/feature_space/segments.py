"""Segments of a pool of images with ids unique across the pool, and their ground-truth purity.

Each image is cut by ``al_loop.core.segments.hierarchical_segments`` (a higra watershed hierarchy);
the per-image ids 0..K-1 are offset so that one int32 map [N,H,W] names every segment of the
pool, which is what the projection, the box selection and the label propagation index.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from al_loop.core.errors import DataError
from al_loop.core.segments import hierarchical_segments
from al_loop.data.base import IGNORE

DEFAULT_CRITERION = "volume"
# ``volume`` on the L2 colour distance of neighbours (0-255 images): on DAVIS frames at 256x448,
# 500 gives about 200 segments per frame and a majority-label upper bound near 0.8 IoU
# (benchmarks/study_feature_space_davis.py sweeps it). Volume grows with the image size.
DEFAULT_THRESHOLD = 500.0


def check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise DataError(
            f"feature space: expected uint8 images [N,H,W,3], got {images.dtype} {images.shape}"
        )
    return images


def pool_segments(
    images: np.ndarray,
    criterion: str = DEFAULT_CRITERION,
    threshold: float | None = DEFAULT_THRESHOLD,
    num_regions: int | None = None,
    sigma: float = 1.0,
    gradients: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(segments int32 [N,H,W] with ids unique across images, segment_image int64 [S]).

    Ids are consecutive: image 0 holds 0..K0-1, image 1 holds K0..K0+K1-1, and so on.
    ``gradients`` (float [N,H,W], e.g. a segmenter's boundary probability) replaces the colour
    distance as edge weights; cut at ``threshold`` or at ``num_regions`` per image.
    """
    images = check_images(images)
    if num_regions is not None:
        threshold = None
    segments = np.zeros(images.shape[:3], np.int32)
    counts = np.zeros(len(images), np.int64)
    offset = 0
    for i, image in enumerate(images):
        local = hierarchical_segments(
            image,
            criterion,
            threshold=threshold,
            num_regions=num_regions,
            gradient=None if gradients is None else gradients[i],
            sigma=sigma,
        )
        segments[i] = local + offset
        counts[i] = int(local.max()) + 1
        offset += int(counts[i])
    return segments, np.repeat(np.arange(len(images), dtype=np.int64), counts)


def segment_boxes(segments: np.ndarray) -> np.ndarray:
    """int64 [S,4]: (y0, x0, y1, x1) of every segment in its image (exclusive ends)."""
    slices = ndimage.find_objects(np.asarray(segments) + 1)  # [N,H,W] -> (image, row, col)
    boxes = np.zeros((len(slices), 4), np.int64)
    for s, found in enumerate(slices):
        if found is None:  # an id with no pixel (only possible in hand-made maps)
            continue
        _, rows, cols = found
        boxes[s] = rows.start, cols.start, rows.stop, cols.stop
    return boxes


def segment_class_counts(segments: np.ndarray, masks: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 [S,C]: pixels of each class in each segment (IGNORE pixels not counted)."""
    segments, masks = np.asarray(segments), np.asarray(masks)
    if segments.shape != masks.shape:
        raise DataError(f"feature space: segments {segments.shape} vs masks {masks.shape}")
    valid = masks != IGNORE
    if (masks[valid] >= num_classes).any():
        raise DataError(f"feature space: masks hold class ids >= {num_classes}")
    num_segments = int(segments.max()) + 1 if segments.size else 0
    flat = segments[valid].astype(np.int64) * num_classes + masks[valid].astype(np.int64)
    return np.bincount(flat, minlength=num_segments * num_classes).reshape(-1, num_classes)


def majority_and_purity(class_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(majority class uint8 [S] (IGNORE without labelled pixels), purity float64 [S]: the
    fraction of a segment's labelled pixels in its majority class; 1 for an empty segment)."""
    totals = class_counts.sum(axis=1)
    majority = class_counts.argmax(axis=1).astype(np.uint8)
    majority[totals == 0] = IGNORE
    purity = np.ones(len(class_counts))
    np.divide(class_counts.max(axis=1), totals, out=purity, where=totals > 0)
    return majority, purity


def ground_truth_segments(masks: np.ndarray, min_area: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A perfect partition (Bragantini et al. 2022, Table 1): the connected components
    (4-adjacency) of each class in each mask [N,H,W], IGNORE pixels included as components of
    their own. Same return as :func:`pool_segments`. With ``min_area`` 0 every segment is pure,
    so the majority labels of the segments reproduce the masks exactly; a larger ``min_area``
    gives each pixel of a smaller component (annotation specks: most of DAVIS's components are
    a few pixels) to the nearest component of at least that many pixels."""
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise DataError(f"feature space: expected masks [N,H,W], got {masks.shape}")
    segments = np.zeros(masks.shape, np.int32)
    counts = np.zeros(len(masks), np.int64)
    offset = 0
    for i, mask in enumerate(masks):
        local = np.zeros(mask.shape, np.int64)
        found = 0
        for value in np.unique(mask):
            parts, k = ndimage.label(mask == value)
            local[parts > 0] = parts[parts > 0] + found
            found += k
        area = np.bincount(local.ravel(), minlength=found + 1)
        large = area >= max(min_area, 1)
        large[0] = False  # label 0 is unused: every pixel belongs to some component
        if not large[1:].any():  # nothing big enough: keep the largest component
            large[int(np.argmax(area))] = True
        if not large[local].all():
            _, (yy, xx) = ndimage.distance_transform_edt(~large[local], return_indices=True)
            local = local[yy, xx]
        kept = np.flatnonzero(large)
        renumber = np.zeros(found + 1, np.int64)
        renumber[kept] = np.arange(len(kept))
        segments[i] = renumber[local] + offset
        counts[i] = len(kept)
        offset += len(kept)
    return segments, np.repeat(np.arange(len(masks), dtype=np.int64), counts)
