"""RALis state and action features (Casanova et al., ICLR 2020, section 3.2), pure numpy.

Every region (unit) is described by what the current segmenter predicts in it: the histogram of
predicted classes and its entropy map, min/mean/max-pooled on a ``grid`` x ``grid`` split of the
region's box. The state is that description for every region of the state set D_S; a candidate
action adds its description relative to its sub-pool's mean (its rivals share the state, so what
sets a pick apart is how it differs from them: without it the measured Q-network ranked
candidates by state-level entropy, not by the pick) and two KL-divergence histograms: its class
distribution against the labelled regions' and against the other candidates of its sub-pool.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-6
KL_RANGE = 3.0  # nats; the last bin also takes everything above
STRIDE = 4  # regions are described at 1/4 resolution: the cached encoder features' stride


def sample_at_stride(maps: np.ndarray) -> np.ndarray:
    """[..., H, W] -> [..., ceil(H/s), ceil(W/s)]: the value at each feature pixel's centre
    (nearest neighbour: labels and region ids stay exact values)."""
    h, w = maps.shape[-2:]
    ys = np.minimum(np.arange(0, h, STRIDE) + STRIDE // 2, h - 1)
    xs = np.minimum(np.arange(0, w, STRIDE) + STRIDE // 2, w - 1)
    return maps[..., ys[:, None], xs[None, :]]


def boxes_of(index: np.ndarray, num_regions: int) -> np.ndarray:
    """int64 [U, 4]: the bounding box of each region id in ``index`` [n,h,w] (zeros if absent)."""
    n, h, w = index.shape
    flat = index.reshape(-1)
    ys = np.broadcast_to(np.arange(h)[None, :, None], index.shape).reshape(-1)
    xs = np.broadcast_to(np.arange(w)[None, None, :], index.shape).reshape(-1)
    low = np.full((2, num_regions), np.iinfo(np.int64).max)
    high = np.full((2, num_regions), -1)
    for k, v in enumerate((ys, xs)):
        np.minimum.at(low[k], flat, v)
        np.maximum.at(high[k], flat, v + 1)
    absent = high[0] < 0
    low[:, absent], high[:, absent] = 0, 0
    return np.stack([low[0], low[1], high[0], high[1]], 1)


def region_descriptors(
    probs: np.ndarray, pixel_unit_index: np.ndarray, boxes: np.ndarray, grid: int = 2
) -> np.ndarray:
    """float32 [U, C + 3 grid^2]: per region, the predicted class histogram (sums to 1) and the
    min, mean and max of the normalised pixel entropy (0..1) in each of grid x grid sub-boxes.

    ``pixel_unit_index`` [n,H,W] holds region ids 0..U-1 for the n images of ``probs``;
    ``boxes`` [U,4] their (y0, x0, y1, x1). An empty sub-box takes its region's mean entropy.
    """
    n, num_classes, h, w = probs.shape
    num_units = len(boxes)
    index = pixel_unit_index.reshape(-1).astype(np.int64)
    predicted = probs.argmax(axis=1).reshape(-1)
    pixels = np.bincount(index, minlength=num_units).astype(np.float64)
    histogram = (
        np.bincount(index * num_classes + predicted, minlength=num_units * num_classes).reshape(
            num_units, num_classes
        )
        / np.maximum(pixels, 1)[:, None]
    )

    p = np.clip(probs, _EPS, 1.0)
    entropy = (-(probs * np.log(p)).sum(axis=1) / np.log(max(num_classes, 2))).reshape(-1)
    ys, xs = np.indices((h, w))
    ys, xs = np.broadcast_to(ys, (n, h, w)).reshape(-1), np.broadcast_to(xs, (n, h, w)).reshape(-1)
    y0, x0, y1, x1 = (boxes[index, k] for k in range(4))
    row = np.minimum((ys - y0) * grid // np.maximum(y1 - y0, 1), grid - 1)
    col = np.minimum((xs - x0) * grid // np.maximum(x1 - x0, 1), grid - 1)
    cell = index * grid * grid + row * grid + col
    cells = num_units * grid * grid
    counts = np.bincount(cell, minlength=cells)
    mean = np.bincount(cell, weights=entropy, minlength=cells) / np.maximum(counts, 1)
    low, high = np.full(cells, np.inf), np.full(cells, -np.inf)
    np.minimum.at(low, cell, entropy)
    np.maximum.at(high, cell, entropy)
    unit_mean = np.bincount(index, weights=entropy, minlength=num_units) / np.maximum(pixels, 1)
    empty = counts == 0
    fill = np.repeat(unit_mean, grid * grid)
    low[empty], mean[empty], high[empty] = fill[empty], fill[empty], fill[empty]
    pooled = np.hstack([v.reshape(num_units, grid * grid) for v in (low, mean, high)])
    return np.hstack([histogram, pooled]).astype(np.float32)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """[len(p), len(q)]: KL(p_i || q_j) of class distributions, both smoothed by a tiny eps."""
    p = (p + _EPS) / (p + _EPS).sum(axis=1, keepdims=True)
    q = (q + _EPS) / (q + _EPS).sum(axis=1, keepdims=True)
    return (p * np.log(p)).sum(axis=1)[:, None] - p @ np.log(q).T


def kl_histograms(
    p: np.ndarray, q: np.ndarray, bins: int, exclude_self: bool = False
) -> np.ndarray:
    """float32 [len(p), bins]: for each p_i, the share of q_j at each KL(p_i || q_j) level in
    [0, KL_RANGE] (the last bin also takes larger values); zeros when q is empty."""
    out = np.zeros((len(p), bins), dtype=np.float32)
    if len(q) == 0 or len(p) == 0:
        return out
    kl = kl_divergence(p, q)
    which = np.minimum((kl / KL_RANGE * bins).astype(np.int64), bins - 1)
    valid = np.ones(kl.shape, dtype=bool)
    if exclude_self:
        np.fill_diagonal(valid, False)
    rows = np.broadcast_to(np.arange(len(p))[:, None], kl.shape)
    np.add.at(out, (rows[valid], which[valid]), 1.0)
    return out / np.maximum(valid.sum(axis=1, keepdims=True), 1)


def action_features(
    candidates: np.ndarray, labelled_histograms: np.ndarray, num_classes: int, bins: int
) -> np.ndarray:
    """float32 [n, 2 D + 2 bins] for the descriptors [n, D] of one sub-pool: each candidate's
    own descriptor, the same minus the sub-pool's mean descriptor, its KL histogram against the
    labelled regions' class histograms [L, C], and against the other candidates."""
    histograms = candidates[:, :num_classes]
    to_labelled = kl_histograms(histograms, labelled_histograms, bins)
    to_rivals = kl_histograms(histograms, histograms, bins, exclude_self=True)
    relative = candidates - candidates.mean(axis=0, keepdims=True)
    return np.hstack([candidates, relative, to_labelled, to_rivals]).astype(np.float32)


def descriptor_size(num_classes: int, grid: int) -> int:
    return num_classes + 3 * grid * grid


def action_size(num_classes: int, grid: int, bins: int) -> int:
    return 2 * descriptor_size(num_classes, grid) + 2 * bins


def observation_features(
    state_descriptors: np.ndarray,
    descriptors: np.ndarray,
    labelled: np.ndarray,
    pools: list[np.ndarray],
    num_classes: int,
    bins: int,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The agent's view, one definition for the episodes and for the loop: (state [S, R], per
    sub-pool the action features [n, F]). ``state_descriptors`` are D_S's region descriptors,
    ``descriptors`` those of the regions the sub-pools index, ``labelled`` selects (mask or
    indices) the regions labelled so far among them."""
    labelled_histograms = descriptors[labelled, :num_classes]
    actions = [
        action_features(descriptors[p], labelled_histograms, num_classes, bins) for p in pools
    ]
    return np.asarray(state_descriptors, dtype=np.float32), actions


def mean_entropy(actions: np.ndarray, num_classes: int, grid: int) -> np.ndarray:
    """[n]: each candidate's mean normalised pixel entropy read from its action features (the
    mean of its sub-box means; exact for equal sub-boxes): what entropy picks rank by."""
    cells = grid * grid
    return actions[:, num_classes + cells : num_classes + 2 * cells].mean(1)
