"""The small protocols the loop depends on. The loop never imports a concrete implementation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from al_loop.core.units import Unit, UnitSpace
from al_loop.data.base import SegmentationData

Progress = Callable[[int, int], None]  # (done, total) callback; the CLI maps it to a bar


class Segmenter(Protocol):
    """Downstream model (baal-style adapter: reset / fit / predict / evaluate)."""

    num_classes: int

    def reset(self, seed: int) -> None:
        """Re-initialise trainable weights deterministically (cold start)."""

    def fit(
        self, images: np.ndarray, labels: np.ndarray, seed: int, progress: Progress | None = None
    ) -> dict[str, float]:
        """Train on uint8 images [N,H,W,3] and labels [N,H,W]; IGNORE pixels carry no loss."""

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """float32 [N,C,H,W] softmax probabilities, computed in batches."""

    def features(self, images: np.ndarray) -> np.ndarray:
        """float32 [N,D] pooled deepest encoder features (for diversity / feature space)."""

    def pixel_features(self, images: np.ndarray) -> np.ndarray:
        """float32 [N,D,H,W] penultimate per-pixel features (core-set / hybrid on any unit)."""

    def predict_proba_samples(self, images: np.ndarray, samples: int, seed: int) -> np.ndarray:
        """float32 [T,N,C,H,W] MC-dropout softmax samples (BALD); deterministic for a seed."""

    def evaluate(self, data: SegmentationData) -> dict[str, Any]:
        """{"miou", "per_class_iou", "dice", ...} on ``data`` (IGNORE pixels not scored)."""

    def save(self, path: str) -> None: ...
    def load(self, path: str) -> None: ...


class CostPredictor(Protocol):
    """Predicts what labelling a unit will cost from what the units labelled so far cost."""

    def fit(self, ctx: SelectionContext) -> Callable[[Sequence[Unit]], np.ndarray]:
        """From ``ctx.measured_seconds`` (and anything else in ``ctx``), a function giving the
        expected seconds [len(units)] of any units of ``ctx.unit_space``."""


FEATURE_BATCH = 32  # images per segmenter call when pooling features per unit


@dataclass
class SelectionContext:
    """What a strategy may look at. Expensive parts are computed lazily and cached."""

    pool: SegmentationData
    unit_space: UnitSpace
    labelled: set[Unit]
    segmenter: Segmenter | None
    rng: np.random.Generator
    round_index: int
    measured_seconds: Mapping[Unit, float] = field(default_factory=dict)  # labelled so far
    cost_predictor: CostPredictor | None = None
    _probs: np.ndarray | None = None
    _unit_features: np.ndarray | None = None
    _expected_seconds: Callable[[Sequence[Unit]], np.ndarray] | None = None

    def _model(self) -> Segmenter:
        if self.segmenter is None:
            raise RuntimeError("this strategy needs a trained segmenter")
        return self.segmenter

    def probabilities(self) -> np.ndarray:
        """Pool predictions [N,C,H,W], computed once per round."""
        if self._probs is None:
            self._probs = self._model().predict_proba(self.pool.images)
        return self._probs

    def probability_samples(self, images: np.ndarray, samples: int, seed: int) -> np.ndarray:
        """MC-dropout samples [T,n,C,H,W] of the pool images at indices ``images``; not cached
        (T times the size of the probabilities), so callers stream over chunks of images."""
        return self._model().predict_proba_samples(self.pool.images[images], samples, seed)

    def unit_features(self) -> np.ndarray:
        """float64 [len(units()), D]: the segmenter's per-pixel features averaged over each unit,
        computed once per round, streamed over image batches."""
        if self._unit_features is None:
            num_units = len(self.unit_space.units())
            sums, counts = 0.0, np.zeros(num_units)
            for start in range(0, len(self.pool), FEATURE_BATCH):
                images = np.arange(start, min(start + FEATURE_BATCH, len(self.pool)))
                features = self._model().pixel_features(self.pool.images[images])  # [n,D,H,W]
                index = self.unit_space.pixel_unit_index(images).ravel()
                channels = features.transpose(1, 0, 2, 3).reshape(features.shape[1], -1)
                sums = sums + np.stack([np.bincount(index, c, num_units) for c in channels], 1)
                counts += np.bincount(index, minlength=num_units)
            self._unit_features = sums / np.maximum(counts, 1)[:, None]
        return self._unit_features

    def expected_seconds(self, units: Sequence[Unit]) -> np.ndarray:
        """Predicted labelling seconds per unit, fitted once per round by ``cost_predictor`` on
        what the units labelled so far cost (``measured_seconds``)."""
        if self._expected_seconds is None:
            if self.cost_predictor is None:
                raise RuntimeError("this strategy needs a cost predictor; the loop gave none")
            self._expected_seconds = self.cost_predictor.fit(self)
        return self._expected_seconds(units)

    def candidates(self) -> list[Unit]:
        return [u for u in self.unit_space.units() if u not in self.labelled]


@dataclass(frozen=True)
class Ranked:
    """Units, best first, with the scores that ranked them (None for unscored strategies)."""

    units: list[Unit]
    scores: list[float] | None = None


class Strategy(Protocol):
    name: str

    def rank(self, ctx: SelectionContext, count: int) -> Ranked:
        """The ``count`` most useful units not in ``ctx.labelled``, best first."""


class Session(Protocol):
    """One object being annotated with one method."""

    def add(self, interaction: Any) -> np.ndarray:
        """Apply an interaction; return the current bool mask [H,W]."""

    @property
    def mask(self) -> np.ndarray: ...


class InteractiveMethod(Protocol):
    name: str
    interaction: str  # the kind of interaction its simulated user must produce

    def start(self, image: np.ndarray, initial_mask: np.ndarray | None = None) -> Session: ...


class SimulatedUser(Protocol):
    """Model-free and deterministic: from ground truth and the current mask, the next interaction."""

    def next_interaction(self, gt: np.ndarray, current: np.ndarray) -> Any | None:
        """None when the user has nothing left to add."""

    def get_state(self) -> dict: ...
    def set_state(self, state: dict) -> None: ...


class CostModel(Protocol):
    def seconds(self, interactions: Sequence[Any], method: str) -> float:
        """Seconds a person needs for this sequence of interactions on one object."""


@dataclass
class UnitAnnotation:
    """What annotating one unit produced; the store keeps all of it."""

    unit: Unit
    box: tuple[int, int, int, int]  # y0, x0, y1, x1 of ``mask`` in the image
    mask: np.ndarray  # uint8 class ids inside box; IGNORE where the unit was not labelled
    seconds: float
    interactions: list[dict]  # JSON log (interactions.to_json + "object" / "class" / "seconds")
    method: str
    annotator: str  # "simulated:<user>" or a person's name
    # seconds the app kept a person waiting (its compute, apart from ``seconds``, the
    # person's own); 0 for a simulated user, whose seconds are priced, not measured
    wait_seconds: float = 0.0


class Annotator(Protocol):
    """Turns a unit into labels: a simulated user driving a method, or a person in the app."""

    def annotate(
        self,
        unit: Unit,
        image: np.ndarray,
        box: tuple[int, int, int, int],
        unit_mask: np.ndarray,
        initial_labels: np.ndarray | None = None,
    ) -> UnitAnnotation:
        """``image`` is the whole pool image; ``unit_mask`` is bool inside ``box``;
        ``initial_labels`` is the segmenter's class map [H,W] offered as a starting point."""


class AnnotationModelTrainer(Protocol):
    """Improves the model behind the annotation tool from the labels acquired so far: a
    learned interactive method retrained each cycle, as annotated images accumulate."""

    def update(
        self, round_index: int, images: np.ndarray, labels: np.ndarray, progress: Progress | None
    ) -> dict[str, float]:
        """Train on uint8 ``images`` [N,H,W,3] and ``labels`` [N,H,W] (IGNORE: unlabelled), the
        labels of rounds up to ``round_index``, and annotate with the result from then on.
        Idempotent per round: a resumed run gets the same model without training twice."""


@dataclass(frozen=True)
class AnnotationRequest:
    """One unit to annotate: the arguments of ``Annotator.annotate``."""

    unit: Unit
    image: np.ndarray
    box: tuple[int, int, int, int]
    unit_mask: np.ndarray
    initial_labels: np.ndarray | None = None


class BatchAnnotator(Annotator, Protocol):
    """An annotator that labels many units in one go, e.g. one box in a 2-D projection of
    segments from many images (feature-space annotation). ``annotate`` stays available."""

    units_per_call: int  # the most units it wants in one call

    def annotate_batch(self, requests: Sequence[AnnotationRequest]) -> list[UnitAnnotation]:
        """One annotation per request, in order; each carries its share of the seconds."""


def units_per_call(annotator: Annotator) -> int:
    """How many units ``annotator`` takes in one call: 1 unless it is a ``BatchAnnotator``."""
    return max(1, int(getattr(annotator, "units_per_call", 1)))


def annotate_units(
    annotator: Annotator, requests: Sequence[AnnotationRequest]
) -> list[UnitAnnotation]:
    """Annotations of ``requests``, in order: in one call when ``annotator`` has
    ``annotate_batch``, otherwise unit by unit through ``annotate``."""
    batch = getattr(annotator, "annotate_batch", None)
    if batch is not None:
        annotations = list(batch(requests))
        if len(annotations) != len(requests):
            raise RuntimeError(
                f"annotate_batch returned {len(annotations)} annotations for {len(requests)} units"
            )
        return annotations
    return [
        annotator.annotate(r.unit, r.image, r.box, r.unit_mask, r.initial_labels) for r in requests
    ]
