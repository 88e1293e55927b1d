"""The feature-space view without Streamlit: box selections in a projection of segments become
per-unit labels (Bragantini et al., Pattern Recognition 2022; al_loop.feature_space builds the
space). A selection log is plain JSON, like the Annotate page's drafts::

    [{"type": "SegmentLabel", "segment_ids": [3, 4, 9], "label": 2}, ...]   # later ones win
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from al_loop.core.interactions import SegmentLabel, to_json
from al_loop.data.base import IGNORE
from al_loop.feature_space import propagate_labels


def label_selection(
    selected: np.ndarray, class_id: int, t0: float | None = None, t1: float | None = None
) -> dict:
    """One box selection (bool [S]) given ``class_id``: a SegmentLabel for the log, timed
    (``t0`` the view's previous action, ``t1`` the assignment) when the times are given."""
    ids = tuple(int(i) for i in np.flatnonzero(selected))
    timing = {} if t0 is None or t1 is None else {"t0": t0, "t": [t1], "t1": t1}
    return {**to_json(SegmentLabel(ids, int(class_id))), **timing}


def segment_labels(num_segments: int, log: Sequence[dict]) -> np.ndarray:
    """uint8 [S]: each segment's class from the log (the latest selection wins), else IGNORE."""
    labels = np.full(num_segments, IGNORE, np.uint8)
    for entry in log:
        labels[list(entry["segment_ids"])] = entry["label"]
    return labels


def unit_results(
    segments: np.ndarray, segment_image: np.ndarray, log: Sequence[dict]
) -> list[tuple[int, np.ndarray, list[dict]]]:
    """(index of the view's image, uint8 labels [h,w] with IGNORE where no segment was
    labelled, the log entries restricted to that image's segments) for every image of the view
    that got at least one label."""
    labels = propagate_labels(segments, segment_labels(len(segment_image), log))
    results = []
    for k in range(len(segments)):
        if not (labels[k] != IGNORE).any():
            continue
        own = set(np.flatnonzero(segment_image == k).tolist())
        entries = [
            {**e, "segment_ids": [i for i in e["segment_ids"] if i in own]}
            for e in log
            if own.intersection(e["segment_ids"])
        ]
        results.append((k, labels[k], entries))
    return results
