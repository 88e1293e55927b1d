"""Pre-flight: every registry name and parameter a config gives, checked before any work.

``check_config`` reads no data, builds no model and writes nothing: it resolves the dataset
and its params, the units kind, the segmenter's arch / encoder / weights, the strategy and
its params, and the annotation method and its params (or the batch annotator's), and fails
with the usual one-line ConfigError naming the key and listing the valid values. Every entry
point calls it first (``run_experiment``, the demo, an app project, each run of a sweep).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from al_loop.annotators import BATCH_ANNOTATORS
from al_loop.core.config import ExperimentConfig
from al_loop.core.cost import CostTable
from al_loop.core.errors import ConfigError
from al_loop.core.units import UNIT_SPACES
from al_loop.data import check_dataset_params
from al_loop.data.base import DatasetSplits
from al_loop.interactive import LEARNED_METHODS, METHODS, make_method
from al_loop.interactive.learned.methods import LearnedMethod
from al_loop.interactive.learned.network import read_metadata
from al_loop.interactive.learned.provenance import Evaluated, check_unseen, source_identity
from al_loop.models.segmenter import check_encoder, check_encoder_weights, resolve_architecture
from simulators import USERS
from strategies import make_strategy


def check_config(config: ExperimentConfig) -> None:
    """ConfigError (one line, naming the key) for the first name or parameter that is wrong."""
    checks = (
        check_dataset,
        check_units,
        check_segmenter,
        check_strategy,
        check_annotation,
        check_costs,
    )
    for check in checks:
        check(config)


def check_costs(config: ExperimentConfig) -> None:
    """The cost table ``annotation.costs`` names loads and has every entry pricing needs."""
    if config.annotation.costs is not None:
        try:
            CostTable.load(config.annotation.costs)
        except ConfigError as err:
            raise ConfigError(f"annotation.costs: {err}") from None


def check_dataset(config: ExperimentConfig) -> None:
    check_dataset_params(config.dataset.name, dict(config.dataset.params))


def check_units(config: ExperimentConfig) -> None:
    if config.units.kind not in UNIT_SPACES:
        valid = ", ".join(sorted(UNIT_SPACES))
        raise ConfigError(f"units.kind: unknown '{config.units.kind}'; valid: {valid}")


def check_segmenter(config: ExperimentConfig) -> None:
    s = config.segmenter
    checks: dict[str, Callable[[], object]] = {
        "arch": lambda: resolve_architecture(s.arch),
        "encoder": lambda: check_encoder(s.encoder),
        "encoder_weights": lambda: check_encoder_weights(s.encoder, s.encoder_weights),
    }
    for key, check in checks.items():
        try:
            check()
        except ConfigError as err:
            raise ConfigError(f"segmenter.{key}: {err}") from None


def check_strategy(config: ExperimentConfig) -> None:
    # Building a strategy only stores its settings (RALIS reads its small policy file), so
    # building it is the complete check of its name and params.
    make_strategy(config.strategy.name, **config.strategy.params)


def annotation_methods() -> list[str]:
    return sorted([*METHODS, *BATCH_ANNOTATORS])


def check_annotation(config: ExperimentConfig) -> None:
    a = config.annotation
    if a.method in BATCH_ANNOTATORS:
        check_batch_annotator(a.method, dict(a.params))
    elif a.method not in METHODS:
        valid = ", ".join(annotation_methods())
        raise ConfigError(f"annotation.method: unknown '{a.method}'; valid: {valid}")
    else:
        # A method's constructor only stores its settings (learned ones read their weights
        # on first use), so building it checks the params.
        method = make_method(a.method, **a.params)
        if method.interaction not in USERS:
            raise ConfigError(
                f"annotation.method '{a.method}': no simulated user gives "
                f"'{method.interaction}' interactions; users: {', '.join(sorted(USERS))}"
            )
        if a.method in LEARNED_METHODS:
            check_weights(method, a.allow_seen_images)
    if a.retrain.steps and a.method not in LEARNED_METHODS:
        raise ConfigError(
            f"annotation.retrain.steps: method '{a.method}' has no learned model to retrain; "
            f"learned methods: {', '.join(sorted(LEARNED_METHODS))}"
        )


ALLOW_SEEN = "annotation.allow_seen_images: true"


def check_weights(method: LearnedMethod, allow_seen: bool = False) -> None:
    """The learned method's weights exist, were trained for its interaction and say which
    images they were trained on unless ``allow_seen`` (their JSON metadata only: the network
    is read when the first object is annotated; the images are compared once the data is
    loaded, ``check_annotation_unseen``)."""
    meta = read_metadata(method.weights)
    trained_for = meta.get("interaction")
    if trained_for != method.interaction:
        raise ConfigError(
            f"{method.weights}: trained for {trained_for!r} interactions, "
            f"method {method.name} takes {method.interaction!r}"
        )
    if not allow_seen:
        check_unseen(method.weights, meta, [], ALLOW_SEEN)


def check_annotation_unseen(config: ExperimentConfig, splits: DatasetSplits) -> None:
    """ConfigError naming the weights and the data set when the learned annotation model was
    trained on images of the pool or the validation set (unless ``allow_seen_images``)."""
    a = config.annotation
    if a.method not in LEARNED_METHODS or a.allow_seen_images:
        return
    method = make_method(a.method, **a.params)
    source = source_identity(config.dataset.name, dict(config.dataset.params))
    evaluated = [
        Evaluated("the run's pool", source, splits.train.names),
        Evaluated("the run's validation set", source, splits.val.names),
    ]
    check_unseen(method.weights, read_metadata(method.weights), evaluated, ALLOW_SEEN)


def check_batch_annotator(name: str, params: dict) -> None:
    """The params against the batch annotator's signature (it is built on the pool's masks)."""
    signature = inspect.signature(BATCH_ANNOTATORS[name])
    try:
        signature.bind(None, None, seed=0, **params)
    except TypeError as err:
        raise ConfigError(f"annotation.params for '{name}': {err}") from None
