"""The loop: train -> score -> select -> annotate -> store -> evaluate, until the budget is spent.

It depends only on the protocols (Segmenter, Strategy, Annotator, UnitSpace) and the store; the
entry point (``al_loop.wiring.build``) wires concrete parts from the config. Every state change goes
through the store first, so a run killed at any moment resumes with nothing lost and nothing
labelled twice, and a resumed run draws the same curve as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from al_loop.core.errors import AlLoopError, RunDirError
from al_loop.core.metrics import unpredicted_classes
from al_loop.core.progress import ProgressFactory, no_progress, step_callback
from al_loop.core.protocols import (
    AnnotationModelTrainer,
    AnnotationRequest,
    Annotator,
    CostPredictor,
    Ranked,
    Segmenter,
    SelectionContext,
    Strategy,
    annotate_units,
    units_per_call,
)
from al_loop.core.store import FINISHED_META, LabelStore, RoundRecord
from al_loop.core.units import UnitSpace
from al_loop.data.base import IGNORE, SegmentationData

PRIOR_SECONDS_PER_UNIT = 5.0  # queue sizing before any unit has a measured cost
# A round that starts over its cumulative target (a person labelled past the last round's
# budget) still queues at least this share of a round's seconds: the overspend is paid back
# from later rounds' targets, at most half a round at a time, instead of a one-unit round.
MIN_ROUND_SHARE = 0.5


@dataclass(frozen=True)
class Budget:
    initial_seconds: float
    round_seconds: float
    total_seconds: float

    def target(self, round_index: int) -> float:
        """Cumulative seconds at which round ``round_index`` stops annotating."""
        return min(self.initial_seconds + round_index * self.round_seconds, self.total_seconds)

    def queue_seconds(self, round_index: int, spent: float) -> float:
        """Seconds of labelling round ``round_index``'s queue is sized for: what is left of
        its cumulative target, at least MIN_ROUND_SHARE of a round (an overspend carries
        over to later rounds' targets, so the total is kept), never past the total budget."""
        left = max(self.target(round_index) - spent, MIN_ROUND_SHARE * self.round_seconds)
        return min(left, self.total_seconds - spent)

    @property
    def rounds(self) -> int:
        """Rounds the budget plans for (fewer if the pool runs out first)."""
        extra = self.total_seconds - self.initial_seconds
        return 1 + math.ceil(extra / self.round_seconds - 1e-9)


# what a round cost the machine: measured, so the one part of a round's metrics a rerun with
# the same seed does not repeat
COMPUTE_METRICS = ("round_wall_seconds", "round_cpu_seconds")


def repeatable_metrics(metrics: dict | None) -> dict | None:
    """A round's metrics without the measured compute time (what determinism promises); None
    for a round not evaluated yet."""
    if metrics is None:
        return None
    return {k: v for k, v in metrics.items() if k not in COMPUTE_METRICS}


@dataclass
class Loop:
    pool: SegmentationData
    val: SegmentationData
    unit_space: UnitSpace
    segmenter: Segmenter
    seed_strategy: Strategy  # round 0, before any model exists
    strategy: Strategy
    annotator: Annotator
    store: LabelStore
    checkpoint_dir: Path
    budget: Budget
    seed: int = 0
    offer_model_mask: bool = False
    cost_predictor: CostPredictor | None = None  # for strategies that pay per expected second
    annotation_trainer: AnnotationModelTrainer | None = None  # retrains the annotation model
    progress: ProgressFactory = no_progress
    log: Callable[[str], None] = lambda message: None
    _model_round: int | None = field(default=None, init=False)  # rounds the weights have seen
    _label_cache: dict = field(default_factory=dict, init=False)  # (model round, image) -> map
    # (wall, CPU) clock of this process when ``run`` began the round: a study's compute budget
    _round_clock: tuple[float, float] | None = field(default=None, init=False)

    def run(self) -> list[RoundRecord]:
        round_index = self.resume()
        ended_by = "budget"
        # a round already started is finished even if its labels spent the whole budget (a
        # run stopped while its last round trained)
        while self._has_round(round_index) or self._budget_left(round_index):
            self._round_clock = (time.perf_counter(), time.process_time())
            if not self._has_round(round_index) and not self.select_round(round_index):
                self.log(f"pool exhausted after {self.store.seconds_spent():.0f} s")
                ended_by = "pool exhausted"
                break
            self._annotate(round_index)
            self.train_and_evaluate(round_index)
            round_index += 1
        # reports tell a run that ended from one still running or killed midway
        self.store.set_meta(
            FINISHED_META,
            json.dumps(
                {"rounds": round_index, "seconds": self.store.seconds_spent(), "ended_by": ended_by}
            ),
        )
        return self.store.rounds()

    # -- the steps (public: the app runs them one by one, a person being the annotator) ------
    def select_round(self, round_index: int) -> bool:
        """Rank and queue round ``round_index``; False when the pool is exhausted."""
        ranked = self._rank(round_index, extension=0)
        if not ranked.units:
            return False
        strategy = self._strategy_for(round_index)
        self.store.start_round(
            round_index,
            strategy.name,
            self.budget.target(round_index),
            ranked.units,
            self.pool.names,
            ranked.scores,
        )
        return True

    def _annotate(self, round_index: int) -> None:
        target = self.budget.target(round_index)
        spent = self.store.seconds_spent()
        extension = 0
        with self.progress(f"round {round_index} annotate", None) as bar:
            while spent < target:
                queue = self.store.queued(round_index)
                if not queue:
                    extension += 1
                    ranked = self._rank(round_index, extension)
                    if not ranked.units:
                        break
                    self.store.extend_round(
                        round_index, ranked.units, self.pool.names, ranked.scores
                    )
                    continue
                done = 0
                while done < len(queue) and spent < target:
                    chunk = queue[done : done + self._units_per_call(target - spent)]
                    done += len(chunk)
                    requests = [self._request(queued.unit) for queued in chunk]
                    for queued, annotation in zip(
                        chunk, annotate_units(self.annotator, requests), strict=True
                    ):
                        self.store.add_annotation(queued.id, round_index, annotation)
                        spent += annotation.seconds
                        bar.update(1)
        self.store.close_round(round_index)

    def train_and_evaluate(self, round_index: int) -> None:
        """Train on the labels of rounds up to this one (a person in the app may be labelling
        the next meanwhile), evaluate, checkpoint, and mark the round evaluated."""
        labels = self.store.label_maps(len(self.pool), self.pool.hw, max_round=round_index)
        labelled = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
        train_stats = self._fit(round_index, labels, labelled)
        metrics = self.segmenter.evaluate(self.val)
        metrics.update(
            train_loss=train_stats.get("loss"),
            # optimiser steps of the fit; a plateau fit also its best epoch (of the labels)
            **{f"fit_{k}": train_stats[k] for k in ("steps", "best_epoch") if k in train_stats},
            labelled_pixels=int((labels != IGNORE).sum()),
            labelled_fraction=float((labels != IGNORE).mean()),
            labelled_images=len(labelled),
        )
        metrics.update(self._update_annotation_model(round_index, labels))
        if self._round_clock is not None:  # measured, never used to choose anything
            wall, cpu = self._round_clock
            measured = (time.perf_counter() - wall, time.process_time() - cpu)
            metrics.update(zip(COMPUTE_METRICS, measured, strict=True))
            self._round_clock = None
        self._save_checkpoint(round_index)
        self.store.finish_round(round_index, metrics)
        self._model_round = round_index
        self._drop_checkpoint(round_index - 1)
        record = self.store.last_round()
        self.log(
            f"round {round_index}: {record.n_annotated} units, {record.seconds_total:.0f} s total, "
            f"val mIoU {metrics['miou']:.3f}{_fit_summary(train_stats)}"
        )
        confusion = metrics.get("confusion_matrix")
        if confusion is not None and (missing := unpredicted_classes(confusion)):
            # said once per round in the run's log: an overnight run that collapsed (e.g. a
            # learning rate too high for warm-started short fits) is visible at once
            self.log(
                f"warning: round {round_index}: the model predicts no pixel of class "
                f"{', '.join(map(str, missing))} on the validation set, where it is at least 5 % "
                "of the pixels: a collapsed fit (try a lower segmenter.lr) or too few labels of it"
            )

    # -- helpers ----------------------------------------------------------------------------
    def _fit(self, round_index: int, labels: np.ndarray, labelled: np.ndarray) -> dict:
        """Round ``round_index``'s fit (also how a lost checkpoint is rebuilt: same seed)."""
        with self.progress(f"round {round_index} train", None) as bar:
            return self.segmenter.fit(
                self.pool.images[labelled],
                labels[labelled],
                seed=self.seed * 1000 + round_index,
                progress=step_callback(bar),
            )

    def _update_annotation_model(
        self, round_index: int, labels: np.ndarray | None = None
    ) -> dict[str, float]:
        """Retrain the annotation model (if any) on ``labels``, those of rounds up to this one
        (read from the store when not given)."""
        if self.annotation_trainer is None:
            return {}
        if labels is None:
            labels = self.store.label_maps(len(self.pool), self.pool.hw, max_round=round_index)
        labelled = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
        with self.progress(f"round {round_index} train annotation model", None) as bar:
            return self.annotation_trainer.update(
                round_index, self.pool.images[labelled], labels[labelled], step_callback(bar)
            )

    def _strategy_for(self, round_index: int) -> Strategy:
        return self.seed_strategy if round_index == 0 else self.strategy

    def _budget_left(self, round_index: int) -> bool:
        if round_index == 0:
            return True
        previous = self.budget.target(round_index - 1)
        return (
            previous < self.budget.total_seconds
            and self.store.seconds_spent() < self.budget.total_seconds
        )

    def _has_round(self, round_index: int) -> bool:
        last = self.store.last_round()
        return last is not None and last.round >= round_index

    def _rank(self, round_index: int, extension: int) -> Ranked:
        """Rank enough units to fill what is left of the round's budget, with some slack."""
        unavailable = self.store.unavailable_units(ranking=round_index)
        left = self.budget.queue_seconds(round_index, self.store.seconds_spent())
        measured = self.store.annotation_seconds()
        per_unit = float(np.mean(measured)) if measured else PRIOR_SECONDS_PER_UNIT
        count = max(1, math.ceil(1.5 * left / max(per_unit, 1e-3)) + 1)
        context = SelectionContext(
            pool=self.pool,
            unit_space=self.unit_space,
            labelled=unavailable,
            segmenter=self.segmenter if self._model_round is not None else None,
            rng=np.random.default_rng([self.seed, round_index, extension]),
            round_index=round_index,
            measured_seconds=self.store.unit_seconds(),
            cost_predictor=self.cost_predictor,
        )
        return self._strategy_for(round_index).rank(context, count)

    def _request(self, unit) -> AnnotationRequest:
        initial = None
        if self.offer_model_mask and self._model_round is not None:
            initial = self._model_labels(unit.image)
        return AnnotationRequest(
            unit,
            self.pool.images[unit.image],
            self.unit_space.box(unit),
            self.unit_space.mask(unit),
            initial,
        )

    def _units_per_call(self, seconds_left: float) -> int:
        """Units for the next annotator call: one for a per-unit annotator; for a batch
        annotator, about what the seconds left buy at the mean measured cost per unit, so
        that one call overshoots the round's budget by little."""
        most = units_per_call(self.annotator)
        if most == 1:
            return 1
        measured = self.store.annotation_seconds()
        per_unit = float(np.mean(measured)) if measured else PRIOR_SECONDS_PER_UNIT
        return int(min(most, max(1, math.ceil(seconds_left / max(per_unit, 1e-3)))))

    def _model_labels(self, image_index: int) -> np.ndarray:
        """The current model's class map of a pool image, predicted once per model: the grid
        cells of one image would otherwise each pay a full-image forward pass."""
        key = (self._model_round, image_index)
        if key not in self._label_cache:
            if any(k[0] != self._model_round for k in self._label_cache):
                self._label_cache.clear()  # a new model: earlier maps are stale
            probs = self.segmenter.predict_proba(self.pool.images[image_index][None])
            self._label_cache[key] = probs[0].argmax(axis=0).astype(np.uint8)
        return self._label_cache[key]

    def resume(self) -> int:
        """Load the latest evaluated model; the index of the first round not yet evaluated."""
        last = self.store.last_round()
        if last is None:
            self.segmenter.reset(self.seed)
            return 0
        done = last.round if last.status == "evaluated" else last.round - 1
        if done >= 0:
            self._load_or_rebuild(done)
            self._model_round = done
            self._update_annotation_model(done)  # reloads what that round wrote
        else:
            self.segmenter.reset(self.seed)
        self.log(f"resuming at round {done + 1} ({self.store.seconds_spent():.0f} s spent)")
        return done + 1

    def _load_or_rebuild(self, round_index: int) -> None:
        """Load round ``round_index``'s checkpoint; if it is missing or unreadable, rebuild it
        from the store, which holds everything the model was trained on."""
        path = self._checkpoint(round_index)
        try:
            self.segmenter.load(str(path))
            return
        except AlLoopError:
            raise  # a checkpoint of another model: a config problem, not a lost file
        except FileNotFoundError:
            problem = "missing"
        except Exception as err:  # truncated, overwritten: torch raises many types
            first = str(err).splitlines()[0] if str(err) else ""
            problem = f"unreadable ({type(err).__name__}{': ' + first if first else ''})"
        rounds = f"rounds 0-{round_index}" if round_index else "round 0"
        self.log(
            f"warning: {path} {problem}; rebuilding it from the store (retraining {rounds} on "
            "the same labels with the same seeds)"
        )
        self._rebuild(round_index)
        self._save_checkpoint(round_index)

    def _rebuild(self, round_index: int) -> None:
        """The model as it was after round ``round_index``: every fit up to it replayed on the
        labels it saw, with its seed (a warm-started model carries all of them), so the
        resumed curve is the uninterrupted one."""
        self.segmenter.reset(self.seed)
        for past in range(round_index + 1):
            labels = self.store.label_maps(len(self.pool), self.pool.hw, max_round=past)
            labelled = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
            self._fit(past, labels, labelled)

    def _checkpoint(self, round_index: int) -> Path:
        return self.checkpoint_dir / f"round_{round_index:03d}.pt"

    def _save_checkpoint(self, round_index: int) -> None:
        final = self._checkpoint(round_index)
        partial = final.with_suffix(".pt.tmp")
        try:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            self.segmenter.save(str(partial))
            os.replace(partial, final)  # atomic: a kill never leaves half a checkpoint
        except (OSError, RuntimeError) as err:  # disk full: torch raises RuntimeError too
            partial.unlink(missing_ok=True)
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise RunDirError(
                f"{final}: could not be written ({first}); the store holds every label so far: "
                "free some space (disk full?), then resume"
            ) from err

    def _drop_checkpoint(self, round_index: int) -> None:
        if round_index >= 0:
            self._checkpoint(round_index).unlink(missing_ok=True)


def _fit_summary(train_stats: dict) -> str:
    """The round's fit in its log line: a plateau fit's length varies by round and arm, and an
    overnight study is read from these lines."""
    if "steps" not in train_stats:
        return ""
    text = f" (fit: {train_stats['steps']} steps"
    if "best_epoch" in train_stats and "epochs" in train_stats:
        text += f", best epoch {train_stats['best_epoch']} of {train_stats['epochs']}"
    return text + ")"
