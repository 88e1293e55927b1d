"""Deterministic train / val / test splits that keep near-duplicate images together.

Images are split by *group*: a group (a video, a scan, a burst of photos) goes whole into one
split, so a near-duplicate of a test image never trains the model. Groups are either given
(``groups``: one id per image, e.g. DAVIS video ids) or formed from ``group_size`` consecutive
images. Shuffled groups fill the splits in turn; a group goes where its middle image falls on
the cumulative ``fractions`` line, so unequal groups still give close-to-requested sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from al_loop.core.errors import ConfigError, DataError
from al_loop.data.base import DatasetSplits, SegmentationData

SPLIT_NAMES = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Three positive fractions summing to 1 (within rounding)."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"fractions: expected [train, val, test], got {fractions!r}") from err
    if len(values) != 3 or min(values) <= 0 or abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(
            f"fractions: expected three positive numbers [train, val, test] summing to 1, "
            f"got {list(fractions)}"
        )
    return values  # type: ignore[return-value]


def consecutive_groups(num_images: int, group_size: int) -> np.ndarray:
    """Group id per image: images 0..k-1 form group 0, k..2k-1 group 1, and so on."""
    if (
        isinstance(group_size, bool)
        or not isinstance(group_size, (int, np.integer))
        or group_size < 1
    ):
        raise ConfigError(f"group_size: expected a positive integer, got {group_size!r}")
    return np.arange(num_images) // group_size


def assign_groups(groups: np.ndarray, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Split index (0 train, 1 val, 2 test) per image; every image of a group gets the same."""
    ids, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(ids))
    ends = np.cumsum(sizes[order])
    middles = (ends - sizes[order] / 2.0) / ends[-1]  # where each group sits on [0, 1]
    split_of_shuffled = np.searchsorted(np.cumsum(fractions)[:2], middles, side="right")
    split_of_group = np.empty(len(ids), dtype=np.int64)
    split_of_group[order] = split_of_shuffled
    return split_of_group[inverse.ravel()]


def split_data(
    data: SegmentationData,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    group_size: int = 1,
    groups: np.ndarray | None = None,
) -> DatasetSplits:
    """Split ``data`` by groups (see the module docstring); each split keeps the input order.

    ``groups`` (one id per image) overrides ``group_size``. Raises ``DataError`` when a split
    would be empty (too few groups for the fractions).
    """
    fractions = check_fractions(fractions)
    if groups is None:
        groups = consecutive_groups(len(data), group_size)
    else:
        groups = np.asarray(groups)
        if groups.shape != (len(data),):
            raise DataError(f"{data.source}: {len(groups)} group ids for {len(data)} images")
    split_of_image = assign_groups(groups, fractions, seed)
    parts = []
    for split, name in enumerate(SPLIT_NAMES):
        indices = np.flatnonzero(split_of_image == split)
        if indices.size == 0:
            raise DataError(
                f"{data.source}: split '{name}' would be empty ({len(data)} images in "
                f"{len(np.unique(groups))} groups, fractions {list(fractions)}); "
                "use more images or smaller groups"
            )
        parts.append(data.subset(indices))
    return DatasetSplits(*parts)
