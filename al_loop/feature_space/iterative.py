"""The paper's iterative protocol inside one labelling session: learn, re-project, box again.

Bragantini et al. (Pattern Recognition 2022): the user boxes some groups, the metric-learning
step trains on the labels given so far, and the segments still unlabelled are shown again in the
improved space. :class:`MetricReprojection` is that step, the ``reproject`` function of the
simulated box-labeller (``simulators.box_labeller.BoxLabeller`` with ``metric_rounds``): each
call trains a fresh head (al_loop/feature_space/metric.py, seeded by the round) on every label so
far and fits a new UMAP of the remaining segments' embedding. Deterministic for a seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from al_loop.data.base import IGNORE
from al_loop.feature_space.metric import MetricParams, ProjectionHead, embed, train_head
from al_loop.feature_space.projection import MAIN_VIEW, UNLABELLED, Projection, UmapParams


@dataclass
class Round:
    """One re-projection: how many segments were labelled and remaining, its head, CPU s."""

    labelled: int
    remaining: np.ndarray = field(repr=False)  # bool [S]: the segments re-projected
    head: ProjectionHead | None = field(repr=False)  # None without learning
    cpu_s: float


class MetricReprojection:
    """``(labels, remaining) -> coords [S,2]``: a head trained on ``labels`` (uint8 [S],
    IGNORE where unlabelled) and a projection of the ``remaining`` segments' embedding.

    ``features`` [S,D]: the segments' features. ``known_features``/``known_labels``: segments
    labelled before this session (earlier calls) that train the head too. ``anchored``: the
    labelled segments are projected with the remaining ones, semi-supervised by their labels
    (the paper's view shows them); otherwise only the remaining ones are (cheaper). Rows of the
    result outside ``remaining`` are 0 unless anchored. ``learn`` False: no head, the features
    themselves are re-projected (the control: what a new view alone does). ``rounds`` keeps
    what each call did.
    """

    def __init__(
        self,
        features: np.ndarray,
        metric: MetricParams | None = None,
        seed: int = 0,
        method: str = "umap",
        view: UmapParams = MAIN_VIEW,
        known_features: np.ndarray | None = None,
        known_labels: np.ndarray | None = None,
        anchored: bool = False,
        learn: bool = True,
    ):
        self.features = np.asarray(features, np.float32)
        dims = self.features.shape[1]
        self.known_features = (
            np.zeros((0, dims), np.float32)
            if known_features is None
            else np.asarray(known_features, np.float32).reshape(-1, dims)
        )
        self.known_labels = (
            np.zeros(0, np.uint8) if known_labels is None else np.asarray(known_labels, np.uint8)
        )
        if len(self.known_labels) != len(self.known_features):
            raise ValueError("metric reprojection: known_features and known_labels differ")
        self.metric, self.seed = metric or MetricParams(), seed
        self.method, self.view = method, view
        self.anchored, self.learn = anchored, learn
        self.rounds: list[Round] = []

    def __call__(self, labels: np.ndarray, remaining: np.ndarray) -> np.ndarray:
        start = time.process_time()
        labels, remaining = np.asarray(labels, np.uint8), np.asarray(remaining, bool)
        if labels.shape != remaining.shape or len(labels) != len(self.features):
            raise ValueError(
                f"metric reprojection: {len(self.features)} segments, labels {labels.shape}, "
                f"remaining {remaining.shape}"
            )
        head = None
        if self.learn:
            head, _ = train_head(
                np.concatenate([self.known_features, self.features]),
                np.concatenate([self.known_labels, labels]),
                self.metric,
                seed=self.seed + len(self.rounds),
            )
        shown = np.ones(len(labels), bool) if self.anchored else remaining
        targets = np.where(labels == IGNORE, UNLABELLED, labels.astype(np.int64))[shown]
        points = self.features[shown] if head is None else embed(head, self.features[shown])
        coords = np.zeros((len(labels), 2), np.float32)
        coords[shown] = Projection(self.view, self.seed, self.method).fit(points, targets)
        self.rounds.append(
            Round(int((labels != IGNORE).sum()), remaining, head, time.process_time() - start)
        )
        return coords
