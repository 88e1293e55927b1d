"""Metric learning on segment features: a projection head trained with a triplet margin loss.

As labels accrue, segments of one class should sit closer together than segments of different
classes, so the next projection shows tighter, purer clusters and one box labels more segments.
Recipe of Bragantini et al. (Pattern Recognition 2022): pytorch-metric-learning's
``TripletMarginLoss`` with margin 0.05, SGD (momentum 0.8, weight decay 5e-4), 3 epochs of
1,000 triplets, learning rate 0.1 divided by 10 after each epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from al_loop.data.base import IGNORE


@dataclass(frozen=True)
class MetricParams:
    margin: float = 0.05
    lr: float = 0.1
    lr_decay: float = 0.1  # multiplied into the learning rate after each epoch
    momentum: float = 0.8
    weight_decay: float = 5e-4
    epochs: int = 3
    triplets_per_epoch: int = 1000
    batch_triplets: int = 100
    hidden: int = 256
    out_dim: int = 64


class ProjectionHead(nn.Module):
    """Two-layer MLP; outputs are L2-normalised (the loss measures distances on the sphere)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.layers(x), dim=1)


def make_head(in_dim: int, params: MetricParams = MetricParams(), seed: int = 0) -> ProjectionHead:
    """A freshly initialised head; its weights are drawn from ``seed`` only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ProjectionHead(in_dim, params.hidden, params.out_dim)


def sample_triplets(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """int64 [count,3]: (anchor, positive, negative) indices into ``labels`` (IGNORE = not
    labelled): anchor and positive share a class, the negative has another. Empty when no class
    has two labelled members or only one class is labelled."""
    labels = np.asarray(labels)
    labelled = np.flatnonzero(labels != IGNORE)
    classes, counts = np.unique(labels[labelled], return_counts=True)
    if len(classes) < 2 or counts.max() < 2:
        return np.zeros((0, 3), np.int64)
    members = {int(c): labelled[labels[labelled] == c] for c in classes}
    others = {int(c): labelled[labels[labelled] != c] for c in classes}  # once, not per triplet
    anchors_pool = labelled[np.isin(labels[labelled], classes[counts >= 2])]
    anchors = rng.choice(anchors_pool, size=count)
    triplets = np.empty((count, 3), np.int64)
    for k, anchor in enumerate(anchors):
        same = members[int(labels[anchor])]
        positive = same[rng.integers(len(same) - 1)]
        if positive == anchor:  # draw from the class without the anchor itself
            positive = same[-1]
        negatives = others[int(labels[anchor])]
        triplets[k] = anchor, positive, negatives[rng.integers(len(negatives))]
    return triplets


def train_head(
    features: np.ndarray,
    labels: np.ndarray,
    params: MetricParams = MetricParams(),
    seed: int = 0,
    head: ProjectionHead | None = None,
) -> tuple[ProjectionHead, list[float]]:
    """(the trained head, mean loss per epoch). ``labels`` uint8 [S] with IGNORE where unknown;
    ``head`` continues training an earlier head (round after round), else a fresh one."""
    from pytorch_metric_learning.losses import TripletMarginLoss

    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    head = head or make_head(x.shape[1], params, seed)
    loss_fn = TripletMarginLoss(margin=params.margin)
    optimiser = torch.optim.SGD(
        head.parameters(), lr=params.lr, momentum=params.momentum, weight_decay=params.weight_decay
    )
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=1, gamma=params.lr_decay)
    rng = np.random.default_rng([seed, 1])
    target = torch.from_numpy(np.asarray(labels, np.int64))
    history: list[float] = []
    head.train()
    for _ in range(params.epochs):
        triplets = sample_triplets(labels, params.triplets_per_epoch, rng)
        if not len(triplets):
            break
        losses = []
        for start in range(0, len(triplets), params.batch_triplets):
            batch = triplets[start : start + params.batch_triplets]
            points, local = np.unique(batch, return_inverse=True)
            local = torch.from_numpy(local.reshape(batch.shape))
            embeddings = head(x[torch.from_numpy(points)])
            loss = loss_fn(
                embeddings,
                target[torch.from_numpy(points)],
                indices_tuple=(local[:, 0], local[:, 1], local[:, 2]),
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
        schedule.step()
    head.eval()
    return head, history


@torch.inference_mode()
def embed(head: ProjectionHead, features: np.ndarray) -> np.ndarray:
    """float32 [S,out_dim]: the head's L2-normalised embedding of ``features``."""
    head.eval()
    return head(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))).numpy()


def separation_ratio(points: np.ndarray, labels: np.ndarray) -> float:
    """Mean distance between class centroids over the mean distance of a point to its own
    class centroid (labelled points only): higher means tighter, better separated clusters.
    Invariant to the scale of ``points``; NaN with fewer than two labelled classes."""
    labels = np.asarray(labels)
    keep = labels != IGNORE
    points, labels = np.asarray(points, np.float64)[keep], labels[keep]
    classes = np.unique(labels)
    if len(classes) < 2:
        return float("nan")
    centroids = np.stack([points[labels == c].mean(axis=0) for c in classes])
    own = centroids[np.searchsorted(classes, labels)]
    within = np.linalg.norm(points - own, axis=1).mean()
    pairs = np.triu_indices(len(classes), k=1)
    between = np.linalg.norm(centroids[pairs[0]] - centroids[pairs[1]], axis=1).mean()
    return float(between / max(within, 1e-12))
