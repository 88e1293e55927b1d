"""Labelling in the projection: box selection, segment labels to pixels, splitting a segment.

Pure functions on plain arrays; the app and the simulated box-labeller both call them.
"""

from __future__ import annotations

from collections.abc import Sequence

import higra as hg
import numpy as np

from al_loop.core.errors import DataError
from al_loop.data.base import IGNORE

Seed = tuple[int, int, int]  # (y, x, class) of a click inside a segment


def select_in_box(coords: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """bool [S]: the points of ``coords`` [S,2] (x, y) inside the axis-aligned box with corners
    (x0, y0) and (x1, y1), given in any order; points on the border are inside."""
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"select_in_box: coords must be [S,2], got {coords.shape}")
    left, right = min(x0, x1), max(x0, x1)
    bottom, top = min(y0, y1), max(y0, y1)
    x, y = coords[:, 0], coords[:, 1]
    return (x >= left) & (x <= right) & (y >= bottom) & (y <= top)


def propagate_labels(segments: np.ndarray, segment_labels: np.ndarray) -> np.ndarray:
    """uint8 [N,H,W]: every pixel takes its segment's label (IGNORE where unlabelled).

    ``segments`` int [N,H,W] holds ids 0..S-1 unique across images; ``segment_labels`` [S]
    holds a class id or IGNORE per segment.
    """
    segments = np.asarray(segments)
    table = np.asarray(segment_labels)
    if segments.size and int(segments.max()) >= len(table):
        raise DataError(
            f"propagate_labels: segment id {int(segments.max())} but only {len(table)} labels"
        )
    if segments.size and int(segments.min()) < 0:
        raise DataError("propagate_labels: negative segment id")
    if table.size and (table.min() < 0 or table.max() > IGNORE):
        raise DataError("propagate_labels: labels must be class ids 0..254 or IGNORE (255)")
    return table.astype(np.uint8)[segments]


def split_segment(
    image: np.ndarray, inside: np.ndarray, seeds: Sequence[Seed], radius: int = 1
) -> np.ndarray:
    """uint8 [h,w]: a class per pixel of the segment ``inside`` (bool [h,w]) by a seeded
    watershed restricted to the segment; IGNORE outside it.

    ``image``: a colour crop [h,w,3] (an edge weighs the colour distance of its two pixels)
    or a gradient [h,w] (an edge weighs the larger gradient of its two pixels). Each seed
    (y, x, class) marks a disk of ``radius`` pixels (clipped to the segment); a part of the
    segment connected to no seed within the segment keeps IGNORE.
    """
    inside = np.asarray(inside, bool)
    image = np.asarray(image, np.float32)
    if image.shape[:2] != inside.shape or image.ndim not in (2, 3):
        raise ValueError(f"split_segment: image {image.shape} vs segment {inside.shape}")
    out = np.full(inside.shape, IGNORE, np.uint8)
    markers = np.zeros(inside.shape, np.int32)  # 0: no seed; class + 1 otherwise
    yy, xx = np.ogrid[: inside.shape[0], : inside.shape[1]]
    for y, x, cls in seeds:
        if not (0 <= y < inside.shape[0] and 0 <= x < inside.shape[1]) or not inside[y, x]:
            raise ValueError(f"split_segment: seed ({y}, {x}) is not inside the segment")
        disk = ((yy - y) ** 2 + (xx - x) ** 2 <= radius**2) & inside
        markers[disk] = int(cls) + 1
    if not markers.any():
        return out
    graph = hg.get_4_adjacency_graph(inside.shape)
    how = hg.WeightFunction.L2 if image.ndim == 3 else hg.WeightFunction.max
    weights = np.asarray(hg.weight_graph(graph, image, how), np.float64)
    sources, targets = graph.edge_list()
    flat = inside.ravel()
    crossing = ~(flat[sources] & flat[targets])
    # An edge that leaves the segment costs more than any path inside it, so every pixel of
    # the segment is flooded from a seed through the segment.
    weights[crossing] = weights.max(initial=0.0) * 2 + 1
    markers[~inside] = 0
    labels = np.asarray(hg.labelisation_seeded_watershed(graph, weights, markers))
    labels = labels.reshape(inside.shape)
    reached = inside & (labels > 0) & _reachable_inside(inside, markers > 0)
    out[reached] = (labels[reached] - 1).astype(np.uint8)
    return out


def _reachable_inside(inside: np.ndarray, seeded: np.ndarray) -> np.ndarray:
    """bool: pixels of ``inside`` connected (4-adjacency, within ``inside``) to a seeded pixel."""
    from scipy import ndimage

    components, _ = ndimage.label(inside)
    return np.isin(components, np.unique(components[seeded & inside])) & inside
