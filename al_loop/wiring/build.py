"""The entry point's wiring: concrete parts from a validated config, passed down as plain values.

This is the only module that knows which dataset reader, segmenter, strategy and annotator a
config names; the loop in ``al_loop.core.experiment`` sees protocols only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from al_loop.annotators import BATCH_ANNOTATORS
from al_loop.annotators.feature_space import SEGMENTER_ENCODERS
from al_loop.annotators.simulated import SimulatedAnnotator
from al_loop.core.config import ExperimentConfig
from al_loop.core.cost import CostTable
from al_loop.core.errors import AlLoopError, ConfigError, RunDirError
from al_loop.core.experiment import Budget, Loop
from al_loop.core.lock import DirectoryLock
from al_loop.core.progress import ProgressFactory, no_progress, step_callback
from al_loop.core.protocols import (
    AnnotationModelTrainer,
    Annotator,
    InteractiveMethod,
    Segmenter,
    Strategy,
)
from al_loop.core.store import POOL_IMAGES_META, STORE_FILE, LabelStore, RoundRecord
from al_loop.core.units import UnitSpace, make_unit_space
from al_loop.data import load_dataset
from al_loop.data.base import BACKGROUND, RARE_KEY, DatasetSplits, SegmentationData
from al_loop.interactive import LEARNED_METHODS, METHODS, make_method
from al_loop.models.plateau import PlateauFitted, fit_until_plateau
from al_loop.models.segmenter import make_segmenter
from al_loop.wiring.check import check_annotation_unseen, check_config
from al_loop.wiring.pool_cost import whole_pool_cost
from strategies import make_strategy
from strategies.cost_aware import FeatureCostPredictor


def set_determinism(seed: int, threads: int | None) -> None:
    """Same seed, same CPU thread count -> the same curve. Parts draw from their own seeded
    generators; the global torch seed only covers library code that ignores ours."""
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)


def build_segmenter(
    config: ExperimentConfig,
    num_classes: int,
    epochs: int | None = None,
    min_steps: int | None = None,
    whole_images: bool = False,
):
    s = config.segmenter
    windows = None if whole_images or s.windows is None else s.windows.model_dump()
    return make_segmenter(
        arch=s.arch,
        encoder=s.encoder,
        encoder_weights=s.encoder_weights,
        num_classes=num_classes,
        epochs=epochs or s.epochs,
        min_steps=s.min_steps if min_steps is None else min_steps,
        batch_size=s.batch_size,
        lr=s.lr,
        weight_decay=s.weight_decay,
        warm_start=s.warm_start,
        augment=s.augment,
        dropout=s.dropout,
        windows=windows,
        bf16=s.bf16,
        device=config.device,
    )


def build_loop_segmenter(config: ExperimentConfig, splits: DatasetSplits) -> Segmenter:
    """The loop's segmenter: with ``segmenter.until_plateau`` every fit trains until the val
    split's mIoU stops improving, an epoch counting the pool's images."""
    segmenter = build_segmenter(config, splits.train.num_classes)
    plateau = config.segmenter.until_plateau
    if plateau is None:
        return segmenter
    if splits.val.masks is None or len(splits.val) == 0:
        raise ConfigError(
            "segmenter.until_plateau: needs a validation split with masks to stop on; "
            f"dataset '{config.dataset.name}' has none"
        )
    return PlateauFitted(
        segmenter,
        splits.val,
        len(splits.train),
        patience=plateau.patience,
        eval_every=plateau.eval_every,
        max_epochs=plateau.max_epochs,
    )


def build_annotator(
    config: ExperimentConfig,
    pool_masks: np.ndarray,
    background: int | None = BACKGROUND,
    segmenter: Segmenter | None = None,
) -> Annotator:
    """The simulated annotator the config names: a batch annotator (the feature-space
    box-labeller, region labels), or a simulated user driving the interactive method
    ``annotation.method``; ``background`` is the pool's (``SegmentationData.background``);
    ``segmenter``, the loop's, is the feature-space annotator's encoder with
    ``features: segmenter_maps`` (its class probabilities with ``segmenter_probs``)."""
    a = config.annotation
    if a.method in BATCH_ANNOTATORS:
        params = dict(a.params)
        make_encoder = SEGMENTER_ENCODERS.get(params.get("features"))
        if make_encoder is not None and segmenter is not None:
            params["encoder"] = make_encoder(segmenter)
        try:
            return BATCH_ANNOTATORS[a.method](
                pool_masks, CostTable.load(config.annotation.costs), seed=config.seed, **params
            )
        except TypeError as err:
            raise ConfigError(f"annotation.params for '{a.method}': {err}") from None
    if a.method not in METHODS:
        valid = ", ".join(sorted([*METHODS, *BATCH_ANNOTATORS]))
        raise ConfigError(f"annotation.method: unknown '{a.method}'; valid: {valid}")
    return SimulatedAnnotator(
        pool_masks=pool_masks,
        method_name=a.method,
        cost=CostTable.load(config.annotation.costs),
        max_interactions=a.max_interactions,
        target_iou=a.target_iou,
        context_margin=a.context_margin,
        min_instance_pixels=a.min_instance_pixels,
        seed=config.seed,
        use_initial=a.use_model_mask,
        method_params=dict(a.params),
        background=background,
    )


def build_annotation_trainer(
    config: ExperimentConfig,
    method: Callable[[], InteractiveMethod],
    run_dir: Path,
    pool_names: Sequence[str] = (),
) -> AnnotationModelTrainer | None:
    """The retrainer of the learned interactive method ``method()`` (called only when one is
    needed) when ``annotation.retrain.steps`` > 0; its weights go to ``run_dir/interactive``
    and their metadata records ``pool_names`` as seen."""
    r = config.annotation.retrain
    if r.steps == 0:
        return None
    if config.annotation.method not in LEARNED_METHODS:
        raise ConfigError(
            f"annotation.retrain.steps: method '{config.annotation.method}' has no learned "
            f"model to retrain; learned methods: {', '.join(sorted(LEARNED_METHODS))}"
        )
    from al_loop.interactive.learned.provenance import record
    from al_loop.interactive.learned.retrain import RETRAINED_DIR, InteractiveRetrainer

    d = config.dataset
    return InteractiveRetrainer(
        method(),
        run_dir / RETRAINED_DIR,
        r.steps,
        seed=config.seed,
        device=config.device,
        trained_on=[record(d.name, dict(d.params), "pool (labelled in a run)", pool_names)],
        batch_size=r.batch_size,
        lr=r.lr,
        min_object_pixels=r.min_object_pixels,
        view_size=unit_view_size(config) if r.unit_scale else None,
    )


def build_unit_space(config: ExperimentConfig, pool: SegmentationData) -> UnitSpace:
    return make_unit_space(
        config.units.kind, len(pool), pool.hw, images=pool.images, **config.units.params()
    )


@dataclass(frozen=True)
class LoopParts:
    """Everything a ``Loop`` needs but its store, built (and so checked) before anything is
    written; ``loop(store)`` puts them together. Built by ``build_parts`` only."""

    config: ExperimentConfig
    splits: DatasetSplits
    checkpoint_dir: Path
    annotator: Annotator
    annotation_trainer: AnnotationModelTrainer | None
    unit_space: UnitSpace
    segmenter: Segmenter
    strategy: Strategy

    def loop(
        self,
        store: LabelStore,
        progress: ProgressFactory = no_progress,
        log: Callable[[str], None] = print,
    ) -> Loop:
        """The one place a ``Loop`` is built, for ``al-loop run`` / demo / sweep and the app."""
        return Loop(
            pool=self.splits.train,
            val=self.splits.val,
            unit_space=self.unit_space,
            segmenter=self.segmenter,
            seed_strategy=make_strategy("random"),
            strategy=self.strategy,
            annotator=self.annotator,
            store=store,
            checkpoint_dir=self.checkpoint_dir,
            budget=build_budget(self.config),
            seed=self.config.seed,
            offer_model_mask=self.config.annotation.use_model_mask,
            cost_predictor=FeatureCostPredictor(),
            annotation_trainer=self.annotation_trainer,
            progress=progress,
            log=log,
        )


def build_parts(
    config: ExperimentConfig,
    splits: DatasetSplits,
    run_dir: Path,
    person: Annotator | None = None,
    segmenter: Segmenter | None = None,
    unit_space: UnitSpace | None = None,
) -> LoopParts:
    """A loop's parts from the config, the same for ``al-loop run`` / demo / sweep and the app:
    the annotator (a simulated user with the configured method, or ``person``: the app's someone
    in a browser using that method), the retrainer of the method's learned model, units,
    segmenter and strategy; checkpoints and retrained weights under ``run_dir``. The app passes
    its own ``segmenter`` (also scored on the check set) and ``unit_space`` (shared by pages)."""
    pool = splits.train
    if segmenter is None:
        segmenter = build_loop_segmenter(config, splits)
    if person is None:
        annotator = build_annotator(config, pool.masks, pool.background, segmenter)

        def method() -> InteractiveMethod:
            return annotator.method

    else:
        annotator = person

        def method() -> InteractiveMethod:
            return make_method(config.annotation.method, **config.annotation.params)

    trainer = build_annotation_trainer(config, method, run_dir, pool.names)
    return LoopParts(
        config=config,
        splits=splits,
        checkpoint_dir=run_dir / "checkpoints",
        annotator=annotator,
        annotation_trainer=trainer,
        unit_space=build_unit_space(config, pool) if unit_space is None else unit_space,
        segmenter=segmenter,
        strategy=make_strategy(config.strategy.name, **config.strategy.params),
    )


def unit_view_size(config: ExperimentConfig) -> int | None:
    """The long side (pixels) of the crop a method is shown for a unit: a grid cell with its
    context on both sides; None (the whole image, at most) for other units."""
    if config.units.kind != "grid":
        return None
    return config.units.cell + 2 * config.annotation.context_margin


def load_splits(config: ExperimentConfig) -> DatasetSplits:
    # The data has its own seed (dataset.params.seed): a seed sweep varies the loop, not the data.
    splits = load_dataset(config.dataset.name, **config.dataset.params)
    if splits.train.masks is None:
        raise ConfigError(
            f"dataset '{config.dataset.name}': the pool has no masks, so a simulated user cannot "
            "annotate it; label it in the app instead"
        )
    return splits


def build_budget(config: ExperimentConfig) -> Budget:
    b = config.budget
    return Budget(b.initial_seconds, b.round_seconds, b.total_seconds)


def reference_min_steps(config: ExperimentConfig) -> int:
    """Optimiser steps the full-supervision model makes at least: the configured value, or what
    the loop's fits make at least together (with warm start they add up over the rounds), so
    that the 100 % line is never drawn by the less-trained model."""
    if config.full_supervision.min_steps is not None:
        return config.full_supervision.min_steps
    s = config.segmenter
    return s.min_steps * (build_budget(config).rounds if s.warm_start else 1)


def full_supervision_reference(
    config: ExperimentConfig,
    splits: DatasetSplits,
    progress: ProgressFactory = no_progress,
    checkpoint: Path | None = None,
    epoch_images: int | None = None,
) -> dict:
    """The same model trained on every label of the pool: the 100 % line. Seeded and
    threaded here, so every caller (run, demo, sweep) gets the same reference. With
    ``full_supervision.patience``, ``checkpoint`` keeps the training's state after every
    evaluation, and a later call continues from it. ``epoch_images``: the pool size an
    epoch of the plateau stands for, when ``splits.train`` holds fewer images (a refit)."""
    set_determinism(config.seed, config.threads)
    fs = config.full_supervision
    segmenter = build_segmenter(
        config,
        splits.train.num_classes,
        fs.epochs,
        min_steps=reference_min_steps(config),
        whole_images=True,  # labelled everywhere: windows would only overlap
    )
    segmenter.reset(config.seed)
    with progress("full supervision train", None) as bar:
        if fs.patience is not None:
            return fit_until_plateau(
                segmenter,
                splits.train.images,
                splits.train.masks,
                splits.val,
                seed=config.seed,
                patience=fs.patience,
                eval_every=fs.eval_every,
                max_epochs=fs.max_epochs,
                progress=step_callback(bar),
                checkpoint=checkpoint,
                epoch_images=epoch_images,
            )
        segmenter.fit(
            splits.train.images, splits.train.masks, seed=config.seed, progress=step_callback(bar)
        )
    return segmenter.evaluate(splits.val)


def check_device(device: str) -> None:
    """The configured device exists on this machine (its spelling is checked by the config)."""
    kind, _, index = device.partition(":")
    if kind == "cpu":
        return
    backend = getattr(torch, kind) if kind != "mps" else torch.backends.mps
    if not backend.is_available():
        raise ConfigError(
            f"device: '{device}' is not available on this machine "
            f"(torch.{'backends.mps' if kind == 'mps' else kind}.is_available() is False); "
            "use device: cpu"
        )
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if index and int(index) >= count:
        raise ConfigError(f"device: '{device}': this machine has {count} {kind} device(s)")


def check_strategy_fits_segmenter(config: ExperimentConfig, strategy) -> None:
    """What a strategy needs of the model, known before round 0 (BALD: MC dropout)."""
    if getattr(strategy, "needs_dropout", False) and config.segmenter.dropout <= 0:
        raise ConfigError(
            f"segmenter.dropout: strategy '{config.strategy.name}' draws MC-dropout samples, so "
            "it needs segmenter.dropout > 0 (e.g. 0.2); it is 0"
        )


def preflight(config: ExperimentConfig) -> None:
    """What ``check_config`` (every registry name and parameter) cannot know from the names
    alone, still before any data is generated or file written: the device exists here and the
    strategy fits the segmenter. The data set, the annotator and the unit space are checked by
    building them in ``run_experiment``, still before the first write."""
    check_device(config.device)
    strategy = make_strategy(config.strategy.name, **config.strategy.params)
    check_strategy_fits_segmenter(config, strategy)


def write_run_config(run_dir: Path, config: ExperimentConfig) -> None:
    """``run_dir/config.yaml``, whole or not at all (a kill mid-write leaves the old one)."""
    path = run_dir / "config.yaml"
    partial = path.with_name(".config.yaml.tmp")
    try:
        partial.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise RunDirError(
            f"{path}: could not be written ({err.strerror or err}); nothing else was written: "
            "free some space, then run again"
        ) from None


def _refuse_existing(store_path: Path) -> None:
    raise AlLoopError(
        f"{store_path}: a run is stored here already; pass --resume or use another directory"
    )


def run_experiment(
    config: ExperimentConfig,
    run_dir: str | Path,
    resume: bool = False,
    progress: ProgressFactory = no_progress,
    log: Callable[[str], None] = print,
    splits: DatasetSplits | None = None,
    reference: dict | None = None,
) -> list[RoundRecord]:
    """Run (or resume) one experiment into ``run_dir``; returns its rounds.

    The order is the contract: every check (config, names, parameters, device, data set, parts)
    -> the run directory's lock -> the resume accepted (same config, undamaged store) -> the
    first write. A refused run leaves the directory as it found it."""
    check_config(config)  # every name and parameter, before anything is read, built or written
    run_dir = Path(run_dir)
    store_path = run_dir / STORE_FILE
    lock = DirectoryLock(run_dir)
    lock.check_usable()
    if store_path.exists() and not resume:
        _refuse_existing(store_path)  # before the data: a slip of the flag costs nothing
    preflight(config)
    set_determinism(config.seed, config.threads)
    splits = splits or load_splits(config)
    check_annotation_unseen(config, splits)  # the annotation model never saw these images
    # every part is built (and so checked) before anything is written or trained
    parts = build_parts(config, splits, run_dir)
    with lock:
        is_new = not store_path.exists()
        if not is_new and not resume:
            _refuse_existing(store_path)  # another process made it since the first look
        if is_new:
            write_run_config(run_dir, config)  # the first write, before the store exists
        with LabelStore(store_path) as store:
            if not is_new:
                store.check_integrity()
                store.check_same_config(config.to_dict())
                write_run_config(run_dir, config)  # accepted: the first write of a resume
            store.bind_config(config.to_dict())
            store.set_meta("classes", json.dumps([c.name for c in splits.classes]))
            # the classes the report gives their own IoU columns (CamVid's pole, sign, ...)
            store.set_meta("rare_classes", json.dumps(list(splits.train.meta.get(RARE_KEY, ()))))
            if store.get_meta(POOL_IMAGES_META) is None:  # a refit's epoch (wiring/refit.py)
                store.set_meta(POOL_IMAGES_META, str(len(splits.train)))
            if store.get_meta("whole_pool") is None:  # the unit of "% of labelling everything"
                whole = whole_pool_cost(
                    splits.train,
                    CostTable.load(config.annotation.costs),
                    config.annotation.min_instance_pixels,
                )
                store.set_meta("whole_pool", json.dumps(whole))
            if store.get_meta("costs") is None:  # the report sets it beside the literature's
                table = CostTable.load(config.annotation.costs)
                priced = {
                    e.name: {"seconds": e.seconds, "source": e.source}
                    for e in table.entries.values()
                }
                store.set_meta("costs", json.dumps({"origin": table.origin, "entries": priced}))
            if config.full_supervision.enabled and store.get_meta("full_supervision") is None:
                reference = reference or full_supervision_reference(config, splits, progress)
                store.set_meta("full_supervision", json.dumps(reference))
            return parts.loop(store, progress=progress, log=log).run()
