"""Train until validation mIoU stops improving: the full-supervision reference's 100 % line.

``train_until_plateau`` is the policy (pure: callbacks in, history out), so it is tested with a
scripted validation curve; ``fit_until_plateau`` runs it on an :class:`SmpSegmenter`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from al_loop.core.errors import AlLoopError, ConfigError
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
    every evaluation as (epoch, score), and evaluations since the best (``stale``)."""

    epochs: int = 0
    best_epoch: int = 0
    best_score: float = -math.inf
    best: Any = None
    curve: list[tuple[int, float]] = field(default_factory=list)
    stale: int = 0


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
    start: tuple[Plateau, Any] | None = None,
    evaluated: Callable[[Plateau, Any], None] | None = None,
) -> Plateau:
    """Train epoch by epoch, evaluate every ``eval_every`` epochs (and after the last), keep the
    best evaluation's snapshot; stop after ``patience`` evaluations without a strictly better
    score once ``min_epochs`` are done, or at ``max_epochs``. The best snapshot is restored.
    ``evaluate`` returns (score, anything to keep with it); a NaN score never counts as best.
    ``evaluated(state, best snapshot)`` is called after every evaluation (a checkpoint), and
    ``start`` continues from such a state instead of epoch 0."""
    if patience < 1 or eval_every < 1 or max_epochs < 1 or not 0 <= min_epochs <= max_epochs:
        raise ConfigError(
            "full_supervision: need patience >= 1, eval_every >= 1, "
            f"0 <= min epochs <= max_epochs; got {patience}, {eval_every}, {min_epochs}, "
            f"{max_epochs}"
        )
    result, best_state = start if start is not None else (Plateau(), None)
    while result.epochs < max_epochs and not _stopped(result, patience, min_epochs):
        train_epoch()
        result.epochs += 1
        if result.epochs % eval_every and result.epochs < max_epochs:
            continue
        score, kept = evaluate()
        result.curve.append((result.epochs, score))
        if score > result.best_score:  # False for NaN
            result.best_score, result.best, result.best_epoch = score, kept, result.epochs
            best_state, result.stale = snapshot(), 0
        else:
            result.stale += 1
        if evaluated is not None:
            evaluated(result, best_state)
    if best_state is not None and result.best_epoch != result.epochs:
        restore(best_state)
    return result


def _stopped(state: Plateau, patience: int, min_epochs: int) -> bool:
    return state.stale >= patience and state.epochs >= min_epochs


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
    checkpoint: Path | None = None,
    epoch_images: int | None = None,
    warm: bool = False,
) -> dict[str, Any]:
    """Cold-start ``segmenter`` (``warm``: go on from its weights when it warm-starts and has
    been trained) and train it on ``labels`` until val mIoU plateaus; at least
    the segmenter's ``epochs`` / ``min_steps`` (what a plain fit trains). Returns the best
    evaluation's metrics plus ``epochs`` (trained), ``best_epoch``, ``steps`` and
    ``val_curve`` ([epoch, mIoU] per evaluation); the segmenter keeps the best weights.
    With ``checkpoint``, the state after every evaluation is written there and a later call
    continues from it exactly (a reference of many epochs survives a killed session).
    ``epoch_images``: the images an epoch of ``eval_every`` / ``max_epochs`` stands for (a
    run's pool, when its labels cover fewer images): evaluations come every that many images'
    worth of steps, so patience and the cap mean as many steps as for the whole pool."""
    check_images(images)
    check_labels(images, labels)
    label_counts(labels, segmenter.num_classes)
    if warm:
        segmenter.start_fit(seed)
    else:
        segmenter.reset(seed)
    labelled = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
    if labelled.size == 0:
        raise ConfigError("full_supervision: the pool has no labelled pixel to train on")
    session = TrainingSession(segmenter, images, labels, labelled, seed, progress)
    # 67 labelled frames of a 367-frame pool: 9 steps an epoch instead of 46, so an epoch-counted
    # patience of 3 stopped a CamVid refit after 27 steps without a better score (README)
    stretch = max(1, round((epoch_images or 0) / labelled.size))

    def evaluate() -> tuple[float, dict]:
        metrics = segmenter.evaluate(val)
        return metrics["miou"], metrics

    def snapshot() -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in segmenter.model.state_dict().items()}

    def save(state: Plateau, best_weights: dict | None) -> None:
        if checkpoint is not None:
            write_checkpoint(checkpoint, session, state, best_weights)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout / drop-path draws, as in SmpSegmenter.fit
        start = read_checkpoint(checkpoint, session) if checkpoint is not None else None
        plateau = train_until_plateau(
            session.epoch,
            evaluate,
            snapshot,
            segmenter.load_weights,
            patience=patience,
            eval_every=eval_every * stretch,
            min_epochs=min(session.epochs_needed(), max_epochs * stretch),
            max_epochs=max_epochs * stretch,
            start=start,
            evaluated=save,
        )
    best = plateau.best if plateau.best is not None else segmenter.evaluate(val)  # all NaN
    return {
        **best,
        "epochs": plateau.epochs,
        "best_epoch": plateau.best_epoch,
        "steps": session.steps,
        "loss": session.loss,
        "val_curve": [[epoch, score] for epoch, score in plateau.curve],
    }


class PlateauFitted:
    """A loop segmenter whose every fit trains until val mIoU plateaus (``fit_until_plateau``):
    the :class:`~al_loop.core.protocols.Segmenter` protocol with ``fit`` replaced, everything
    else the wrapped segmenter's. ``pool_images`` is the pool's size: an epoch of the plateau
    stands for that many images' worth of steps, whatever the labels cover."""

    def __init__(
        self,
        segmenter: SmpSegmenter,
        val: SegmentationData,
        pool_images: int,
        *,
        patience: int,
        eval_every: int = 1,
        max_epochs: int = 30,
    ):
        self.inner, self.val, self.pool_images = segmenter, val, pool_images
        self.patience, self.eval_every, self.max_epochs = patience, eval_every, max_epochs

    def __getattr__(self, name: str) -> Any:  # reset, predict_proba, evaluate, save, ...
        return getattr(self.inner, name)

    def fit(
        self, images: np.ndarray, labels: np.ndarray, seed: int, progress: Progress | None = None
    ) -> dict[str, Any]:
        if not (labels != IGNORE).any():  # nothing to plateau on: the plain fit's answer
            return self.inner.fit(images, labels, seed, progress)
        result = fit_until_plateau(
            self.inner,
            images,
            labels,
            self.val,
            seed,
            patience=self.patience,
            eval_every=self.eval_every,
            max_epochs=self.max_epochs,
            progress=progress,
            epoch_images=self.pool_images,
            warm=True,
        )
        return {
            "loss": result["loss"],
            "steps": result["steps"],
            "epochs": result["epochs"],
            "best_epoch": result["best_epoch"],
            "val_curve": result["val_curve"],
        }


def write_checkpoint(
    path: Path, session: TrainingSession, state: Plateau, best_weights: dict | None
) -> None:
    """Everything the next epoch depends on: weights, optimiser, the session's and torch's
    random streams, and the plateau's state (written whole, then renamed: a kill mid-write
    leaves the previous checkpoint)."""
    payload = {
        "model": session.seg.model.state_dict(),
        "optimizer": session.optimizer.state_dict(),
        "generator": session.generator.get_state(),
        "rng": json.dumps(session.rng.bit_generator.state),
        "torch_rng": torch.get_rng_state(),
        "session": [session.epochs, session.steps, session.loss],
        "plateau": json.dumps(asdict(state)),  # -inf (nothing best yet) as JSON's -Infinity
        "best_weights": best_weights,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    partial.replace(path)


def read_checkpoint(path: Path, session: TrainingSession) -> tuple[Plateau, Any] | None:
    """Restore ``session`` (and torch's RNG) from ``write_checkpoint``'s file; None if absent."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location=session.seg.device, weights_only=True)
        session.seg.load_weights(payload["model"])  # in place: the optimiser's parameters
        session.optimizer.load_state_dict(payload["optimizer"])
    except Exception as err:  # a file of another model, or damaged
        raise AlLoopError(
            f"{path}: not a checkpoint of this reference ({type(err).__name__}); delete it to "
            "train the reference from the start"
        ) from err
    session.generator.set_state(payload["generator"])
    session.rng.bit_generator.state = json.loads(payload["rng"])
    torch.set_rng_state(payload["torch_rng"])
    session.epochs, session.steps, session.loss = payload["session"]
    session.discard_drawn_epoch()
    fields = json.loads(payload["plateau"])
    fields["curve"] = [tuple(point) for point in fields["curve"]]
    return Plateau(**fields), payload["best_weights"]
