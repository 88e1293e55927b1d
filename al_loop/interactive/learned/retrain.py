"""Retrain a learned interactive method on the labels a run has acquired, after every round.

The seed pipeline's cycle: the interactive model that helps label round r+1 was fine-tuned on
everything labelled up to round r, so it improves as annotated images accumulate. Round r's
model is the method's own weights fine-tuned for ``steps`` optimiser steps on the labels of
rounds 0..r, with the geometry those weights were trained with. Each round starts again from
the method's own weights rather than from round r-1's: measured on the demo data, chaining the
rounds drifts (the click model got worse on held-out images round after round) while a fresh
fine-tune on all labels so far does not. The result is written to
``<out_dir>/<method>_round_<r>.pt`` and the method switches to it (the app's Annotate page picks
up a project's newest file the same way). A round whose file exists is loaded, not retrained, so
a resumed run continues with the very same model; training is seeded from the run's seed and the
round, so a run gives the same curve twice. ``trained_on`` (provenance.py) is the record of the
run's images a round may have learned from (the whole pool), added to the initial weights' in
each round's metadata: those weights must not annotate that pool in another run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import ValidationError

from al_loop.core.config import DatasetConfig, describe_validation_error
from al_loop.core.errors import ConfigError, DataError
from al_loop.core.progress import callback_progress
from al_loop.interactive.learned.methods import LearnedMethod
from al_loop.interactive.learned.network import read_metadata
from al_loop.interactive.learned.train import (
    GEOMETRY_KEYS,
    TrainConfig,
    checkpoint_path,
    train,
    training_set,
)

RETRAINED_DIR = "interactive"  # inside a run directory or app project


def round_weights(out_dir: str | Path, method: str, round_index: int) -> Path:
    return Path(out_dir) / f"{method}_round_{round_index:03d}.pt"


def latest_round_weights(out_dir: str | Path, method: str) -> Path | None:
    """The newest round's weights of ``method`` in ``out_dir``, or None."""
    rounds = []
    for path in Path(out_dir).glob(f"{method}_round_*.pt"):
        suffix = path.stem.removeprefix(f"{method}_round_")
        if suffix.isdigit():
            rounds.append((int(suffix), path))
    return max(rounds)[1] if rounds else None


class InteractiveRetrainer:
    """``AnnotationModelTrainer`` for a :class:`LearnedMethod`; ``settings`` are
    train-interactive options (batch_size, lr, ...) used for every round. ``out_dir`` lies in
    the run directory (or app project) whose labels are trained on."""

    def __init__(
        self,
        method: LearnedMethod,
        out_dir: str | Path,
        steps: int,
        seed: int = 0,
        device: str = "cpu",
        trained_on: list[dict] | None = None,
        **settings,
    ):
        self.method, self.out_dir, self.steps = method, Path(out_dir), steps
        self.trained_on = trained_on or []
        self.seed, self.device, self.settings = seed, device, settings
        self.initial_weights = method.weights
        self._geometry = {k: read_metadata(self.initial_weights)[k] for k in GEOMETRY_KEYS}
        self._config(round_index=0)  # bad settings fail before round 0

    def weights_for(self, round_index: int) -> Path:
        return round_weights(self.out_dir, self.method.name, round_index)

    def _config(self, round_index: int) -> TrainConfig:
        """Round ``round_index``'s fine-tuning of the initial weights, in their geometry."""
        try:
            return TrainConfig(
                name=self.method.name,
                dataset=DatasetConfig(name="run", params={"root": str(self.out_dir.parent)}),
                splits=["train"],
                out=str(self.weights_for(round_index)),
                init_weights=str(self.initial_weights),
                seed=self.seed * 1000 + round_index,
                device=self.device,
                threads=None,  # the run's
                steps=self.steps,
                warmup_steps=0,
                freeze_batchnorm=True,
                checkpoint_every=max(1, self.steps),
                **self._geometry,
                **{"objects": "component", **self.settings},
            )
        except ValidationError as err:
            raise ConfigError(describe_validation_error(err, "annotation.retrain")) from None

    def update(self, round_index: int, images: np.ndarray, labels: np.ndarray, progress=None):
        out = self.weights_for(round_index)
        stats = {"annotation_model_round": float(round_index)}
        if not out.exists():
            config = self._config(round_index)
            try:
                data = training_set(images, labels, config, self.trained_on)
            except DataError:  # nothing big enough labelled yet: keep the method's own
                self.method.use_weights(self.initial_weights)
                return {**stats, "annotation_model_steps": 0.0}
            result = train(config, data, resume=True, progress=callback_progress(progress))
            checkpoint_path(out).unlink(missing_ok=True)  # the weights are final
            stats.update(
                annotation_model_steps=float(result.steps), annotation_model_loss=result.loss
            )
        self.method.use_weights(out)
        return stats
