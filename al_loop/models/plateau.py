"""Train until validation mIoU stops improving: the full-supervision reference's 100 % line.

``train_until_plateau`` is the policy (pure: callbacks in, history out), so it is tested with a
scripted validation curve; ``fit_until_plateau`` runs it on an :class:`SmpSegmenter`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import Progress
from al_loop.data.base import IGNORE, SegmentationData
from al_loop.models.segmenter import (
    SmpSegmenter,
    TrainingSession,
    check_images,
    check_labels,
    label_counts,
)


@dataclass
class Plateau:
    """What ``train_until_plateau`` did: epochs trained, the best evaluation and its epoch,
    and every evaluation as (epoch, score)."""

    epochs: int = 0
    best_epoch: int = 0
    best_score: float = -math.inf
    best: Any = None
    curve: list[tuple[int, float]] = field(default_factory=list)


def train_until_plateau(
    train_epoch: Callable[[], None],
    evaluate: Callable[[], tuple[float, Any]],
    snapshot: Callable[[], Any],
    restore: Callable[[Any], None],
    *,
    patience: int,
    eval_every: int = 1,
    min_epochs: int = 0,
    max_epochs: int = 100,
) -> Plateau:
    """Train epoch by epoch, evaluate every ``eval_every`` epochs (and after the last), keep the
    best evaluation's snapshot; stop after ``patience`` evaluations without a strictly better
    score once ``min_epochs`` are done, or at ``max_epochs``. The best snapshot is restored.
    ``evaluate`` returns (score, anything to keep with it); a NaN score never counts as best."""
    if patience < 1 or eval_every < 1 or max_epochs < 1 or not 0 <= min_epochs <= max_epochs:
        raise ConfigError(
            "full_supervision: need patience >= 1, eval_every >= 1, "
            f"0 <= min epochs <= max_epochs; got {patience}, {eval_every}, {min_epochs}, "
            f"{max_epochs}"
        )
    result, best_state, stale = Plateau(), None, 0
    while result.epochs < max_epochs:
        train_epoch()
        result.epochs += 1
        if result.epochs % eval_every and result.epochs < max_epochs:
            continue
        score, kept = evaluate()
        result.curve.append((result.epochs, score))
        if score > result.best_score:  # False for NaN
            result.best_score, result.best, result.best_epoch = score, kept, result.epochs
            best_state, stale = snapshot(), 0
        else:
            stale += 1
        if stale >= patience and result.epochs >= min_epochs:
            break
    if best_state is not None and result.best_epoch != result.epochs:
        restore(best_state)
    return result


def fit_until_plateau(
    segmenter: SmpSegmenter,
    images: np.ndarray,
    labels: np.ndarray,
    val: SegmentationData,
    seed: int,
    *,
    patience: int,
    eval_every: int = 1,
    max_epochs: int = 100,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Cold-start ``segmenter`` and train it on ``labels`` until val mIoU plateaus; at least
    the segmenter's ``epochs`` / ``min_steps`` (what a plain fit trains). Returns the best
    evaluation's metrics plus ``epochs`` (trained), ``best_epoch``, ``steps`` and
    ``val_curve`` ([epoch, mIoU] per evaluation); the segmenter keeps the best weights."""
    check_images(images)
    check_labels(images, labels)
    label_counts(labels, segmenter.num_classes)
    segmenter.reset(seed)
    labelled = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
    if labelled.size == 0:
        raise ConfigError("full_supervision: the pool has no labelled pixel to train on")
    session = TrainingSession(segmenter, images, labels, labelled, seed, progress)

    def evaluate() -> tuple[float, dict]:
        metrics = segmenter.evaluate(val)
        return metrics["miou"], metrics

    def snapshot() -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in segmenter.model.state_dict().items()}

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout / drop-path draws, as in SmpSegmenter.fit
        plateau = train_until_plateau(
            session.epoch,
            evaluate,
            snapshot,
            segmenter.model.load_state_dict,
            patience=patience,
            eval_every=eval_every,
            min_epochs=min(session.epochs_needed(), max_epochs),
            max_epochs=max_epochs,
        )
    best = plateau.best if plateau.best is not None else segmenter.evaluate(val)  # all NaN
    return {
        **best,
        "epochs": plateau.epochs,
        "best_epoch": plateau.best_epoch,
        "steps": session.steps,
        "val_curve": [[epoch, score] for epoch, score in plateau.curve],
    }
