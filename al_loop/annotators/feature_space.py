"""The loop's annotator for feature-space annotation: the simulated box-labeller over units.

Each unit handed over (a superpixel in the intended setup; any unit works, a grid cell or a
whole image being one "segment") is cropped, encoded and placed in a 2-D projection together
with the other units of the same call; the box-labeller (simulators/box_labeller.py) labels
them with boxes and fixes mixed ones with clicks. One call labels a batch of units from many
images: this is the ``BatchAnnotator`` protocol; ``annotate`` of a single unit is a batch of one.

With ``metric_learning``, the units labelled in earlier calls (at most ``history`` of them)
train the metric head (al_loop/feature_space/metric.py), and the projection is fitted on the
head's embedding of them and the new units, semi-supervised by their labels, so clusters of one
class tighten call after call. That memory lives in the process: a run resumed after a kill
starts it afresh, so its curve may differ from an uninterrupted run's (hence off by default).
Without it each call's projection holds that call's units only, and a resumed run repeats an
uninterrupted one except that a call cut short by the kill is finished as a smaller batch.
``metric_rounds`` (with ``reproject_every``) runs the paper's iterative protocol inside a call:
after a pass of boxes the head learns from the call's labels so far (and the earlier calls' with
``metric_learning``) and the unlabelled units are re-projected and boxed again
(al_loop/feature_space/iterative.py); it needs no memory across calls, so it resumes exactly.

With ``features: maps`` the encoder's maps of each pool image are kept between calls (up to
``map_cache_mb``): a study round makes several calls of up to ``units_per_call`` units spread
over the whole pool, and without the cache every call re-encoded nearly every pool image (CamVid:
about 340 images a call, 4 calls a round, the same 367 images each time). The encoder is frozen
and encodes one image at a time, so a cached map is the map a new encoding would give: the
features, boxes and seconds are the same with or without the cache.

With ``features: segmenter_maps`` the maps come from the loop's own segmenter (the wiring hands it
over as the encoder): the model the loop trains for these very classes, whose maps separate
object from background segments better than ImageNet features (DAVIS, paper protocol, a trained
segmenter: separation 0.92 against 0.56, 3.55 boxes an image against 4.70; README). Its weights
change every round, so the kept maps are dropped whenever its ``weights_version`` moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.core.interactions import Click, SegmentLabel, to_json
from al_loop.core.protocols import AnnotationRequest, UnitAnnotation
from al_loop.core.segments import classes_in
from al_loop.core.units import Unit
from al_loop.data.base import IGNORE
from al_loop.feature_space.features import (
    CROP_MARGIN,
    CROP_SIZE,
    Encoder,
    ProbabilityMaps,
    lite0_encoder,
    map_features,
    segment_crop,
)
from al_loop.feature_space.iterative import MetricReprojection
from al_loop.feature_space.metric import embed, train_head
from al_loop.feature_space.projection import MAIN_VIEW, UNLABELLED, Projection
from al_loop.feature_space.segments import majority_and_purity
from simulators.box_labeller import BoxLabeller, Prices, click_split

METHOD = "feature_space"
# Where a unit's features come from: "maps" (default), the encoder's maps of the whole image
# averaged over the unit; "crops", the unit's crop (outside zeroed) through the encoder. On DAVIS
# at the paper's cut the maps separate object from background segments twice as well and halve
# the boxes (benchmarks/bench_feature_space_paper.py; README, Feature-space annotation).
# "segmenter_maps": the maps of the loop's segmenter, as it is when the call is made;
# "segmenter_probs": its class probabilities (al_loop.feature_space.features.ProbabilityMaps).
FEATURE_SOURCES = ("crops", "maps", "segmenter_maps", "segmenter_probs")
MAP_SOURCES = ("maps", "segmenter_maps", "segmenter_probs")
# The sources read from the loop's segmenter, and the encoder each makes of it (the wiring's).
SEGMENTER_ENCODERS = {
    "segmenter_maps": lambda segmenter: segmenter,
    "segmenter_probs": ProbabilityMaps,
}
# Memory for the pool images' encoder maps kept between calls (``map_cache_mb``): Lite0's four
# levels take 0.5 MB per CamVid frame at 180x240 (190 MB for the 367-frame pool) and 1.3 MB per
# DAVIS frame at 256x448.
MAP_CACHE_MB = 1024.0


class FeatureSpaceAnnotator:
    """``BatchAnnotator`` for ``annotation.method: feature_space`` (simulated, from GT).

    ``units_per_call``: most units projected and boxed together. The box-labeller settings
    (``purity``, ``grid``, ``split_below``, ``min_split_pixels``, ``target_accuracy``,
    ``max_clicks``, ``max_wrong``, ``zoom_points``, ``metric_rounds``, ``reproject_every``: the
    paper's iterative protocol within a call, ``purity_by``) are those of
    ``simulators.box_labeller.BoxLabeller``; ``features``: one of FEATURE_SOURCES;
    ``projection``: "umap" or "pca"; ``encoder`` (default: pretrained Lite0) encodes the units'
    crops, or with "maps" gives the whole images' maps (its ``feature_maps``); with a segmenter
    source it is what SEGMENTER_ENCODERS makes of the loop's segmenter, with no default.
    """

    name = f"simulated:{BoxLabeller.name}"
    method = METHOD

    def __init__(
        self,
        pool_masks: np.ndarray,
        cost: Prices,
        num_classes: int | None = None,
        units_per_call: int = 400,
        purity: float = 0.9,
        grid: int = 32,
        split_below: float = 0.8,
        min_split_pixels: int = 16,
        target_accuracy: float = 0.9,
        max_clicks: int = 6,
        max_wrong: int | None = None,
        projection: str = "umap",
        crop_size: int = CROP_SIZE,
        crop_margin: float = CROP_MARGIN,
        encoder: Encoder | None = None,
        metric_learning: bool = False,
        history: int = 2000,
        seed: int = 0,
        features: str = "maps",
        zoom_points: int | None = None,
        metric_rounds: int = 0,
        reproject_every: int | None = None,
        map_cache_mb: float = MAP_CACHE_MB,
        purity_by: str = "segments",
    ):
        if features not in FEATURE_SOURCES:
            raise ConfigError(
                f"annotation.params.features: unknown '{features}'; valid: "
                + ", ".join(FEATURE_SOURCES)
            )
        self.features = features
        self.pool_masks = np.asarray(pool_masks)
        self.num_classes = num_classes or classes_in(self.pool_masks, IGNORE)
        self.units_per_call = int(units_per_call)
        self.labeller = BoxLabeller(
            cost,
            purity,
            grid,
            split_below,
            min_split_pixels,
            target_accuracy,
            max_clicks,
            max_wrong,
            zoom_points,
            metric_rounds,
            reproject_every,
            purity_by,
        )
        self.projection, self.seed = projection, seed
        self.crop_size, self.crop_margin = crop_size, crop_margin
        self._encoder = encoder
        self.metric_learning, self.history = metric_learning, history
        self._past_features = np.zeros((0, 0), np.float32)  # labelled in earlier calls
        self._past_labels = np.zeros(0, np.uint8)
        self.calls = 0
        if map_cache_mb < 0:
            raise ConfigError(f"annotation.params.map_cache_mb: must be >= 0, got {map_cache_mb}")
        self.map_cache_bytes = int(map_cache_mb * 2**20)
        self._maps: dict[int, list[np.ndarray]] = {}  # pool image -> its maps, one per level
        self._maps_version: int | None = None  # the encoder's weights_version they came from
        self.encoded_images = 0  # images run through the encoder's maps (the cache's misses)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = lite0_encoder()  # loaded on first use: tests inject a cheap one
        return self._encoder

    def annotate(
        self,
        unit: Unit,
        image: np.ndarray,
        box: tuple[int, int, int, int],
        unit_mask: np.ndarray,
        initial_labels: np.ndarray | None = None,
    ) -> UnitAnnotation:
        request = AnnotationRequest(unit, image, box, unit_mask, initial_labels)
        return self.annotate_batch([request])[0]

    def annotate_batch(self, requests: Sequence[AnnotationRequest]) -> list[UnitAnnotation]:
        if not requests:
            return []
        gts = [self._gt(r) for r in requests]
        counts = np.stack([self._class_counts(r, gt) for r, gt in zip(requests, gts, strict=True)])
        classes, _ = majority_and_purity(counts)
        features = self._features(requests)
        if self._past_features.shape[1] not in (0, features.shape[1]):
            # the source changed kind since the last call (segmenter_probs after the
            # segmenter's first fit): the labelled history is in another space
            self._past_features = np.zeros((0, features.shape[1]), np.float32)
            self._past_labels = self._past_labels[:0]
        coords = self._coords(features)
        labels, seconds, boxes, _ = self.labeller.label_projection(
            coords, classes, self.num_classes, self._reprojection(features), counts.sum(axis=1)
        )
        self.calls += 1
        if self.metric_learning:
            self._remember(features, labels)
        box_of = {s: b for b, box in enumerate(boxes) for s in box.segments}
        out = []
        for k, (request, gt) in enumerate(zip(requests, gts, strict=True)):
            mask = np.where(request.unit_mask, labels[k], IGNORE).astype(np.uint8)
            log = [self._label_record(request.unit, k, labels[k], box_of, boxes, seconds[k])]
            if self.labeller.needs_split(counts[k], int(labels[k])):
                y0, x0, y1, x1 = request.box
                split, clicks = click_split(
                    request.image[y0:y1, x0:x1],
                    request.unit_mask,
                    gt,
                    int(labels[k]),
                    self.labeller.target_accuracy,
                    self.labeller.max_clicks,
                )
                if clicks:
                    mask = split
                    click_seconds = self.labeller.click_seconds(len(clicks))
                    seconds[k] += click_seconds
                    log += [
                        {
                            **to_json(Click(y + y0, x + x0, positive=bool(c == labels[k]))),
                            "class": c,
                            "seconds": click_seconds / len(clicks),
                        }
                        for y, x, c in clicks
                    ]
            mask[gt == IGNORE] = IGNORE  # as the other simulated annotators: void stays void
            out.append(
                UnitAnnotation(
                    unit=request.unit,
                    box=request.box,
                    mask=mask,
                    seconds=float(seconds[k]),
                    interactions=log,
                    method=METHOD,
                    annotator=self.name,
                )
            )
        return out

    def _gt(self, request: AnnotationRequest) -> np.ndarray:
        y0, x0, y1, x1 = request.box
        return self.pool_masks[request.unit.image, y0:y1, x0:x1]

    def _class_counts(self, request: AnnotationRequest, gt: np.ndarray) -> np.ndarray:
        values = gt[request.unit_mask & (gt != IGNORE)].astype(np.int64)
        return np.bincount(values, minlength=self.num_classes)[: self.num_classes]

    def _features(self, requests: Sequence[AnnotationRequest]) -> np.ndarray:
        if self.features in MAP_SOURCES:
            return self._map_features(requests)
        crops = np.stack([self._crop(r) for r in requests])
        return np.asarray(self.encoder(crops), np.float32)

    def _map_features(self, requests: Sequence[AnnotationRequest]) -> np.ndarray:
        """Each unit's mean of the encoder's maps of its whole image (``feature_maps``, run once
        per pool image while its maps are kept), standardised per level over the call's units."""
        if self._encoder is None and self.features in SEGMENTER_ENCODERS:
            raise ConfigError(
                f"annotation.params.features: '{self.features}' needs the loop's segmenter "
                "(al-loop run and sweep pass it); use 'maps' outside a loop"
            )
        encoder = self._encoder if self._encoder is not None else lite0_encoder()
        if not hasattr(encoder, "feature_maps"):
            raise ConfigError(
                f"annotation.params.features: '{self.features}' needs an encoder with feature_maps"
            )
        order = sorted({r.unit.image for r in requests})
        where = {image: j for j, image in enumerate(order)}
        first = {r.unit.image: r.image for r in reversed(requests)}
        hw = first[order[0]].shape[:2]  # a pool's images share one size
        outside = len(requests)  # the id of pixels that belong to no unit of this call
        ids = np.full((len(order), *hw), outside, np.int32)
        for k, request in enumerate(requests):
            y0, x0, y1, x1 = request.box
            ids[where[request.unit.image], y0:y1, x0:x1][request.unit_mask] = k
        maps = self._image_maps(encoder, order, first)
        return map_features(maps, ids, outside + 1, keep=outside)

    def _image_maps(self, encoder, order: list[int], images: dict) -> list[np.ndarray]:
        """float32 [len(order),D_l,h_l,w_l] per level: the encoder's maps of the pool images
        ``order`` (pixels in ``images``), encoding only those not kept from earlier calls with the
        same weights (an encoder that trains says so with its ``weights_version``)."""
        version = getattr(encoder, "weights_version", None)  # None: frozen weights
        if version != self._maps_version:
            self._maps.clear()
            self._maps_version = version
        missing = [image for image in order if image not in self._maps]
        encoded: dict[int, list[np.ndarray]] = {}
        if missing:
            fresh = encoder.feature_maps(np.stack([images[image] for image in missing]))
            self.encoded_images += len(missing)
            encoded = {image: [m[j].copy() for m in fresh] for j, image in enumerate(missing)}

        def of(image: int) -> list[np.ndarray]:
            return encoded[image] if image in encoded else self._maps[image]

        levels = range(len(of(order[0])))
        maps = [np.stack([of(image)[level] for image in order]) for level in levels]
        self._keep_maps(encoded)
        return maps

    def _keep_maps(self, encoded: dict[int, list[np.ndarray]]) -> None:
        """Keep newly encoded images' maps, dropping the oldest beyond ``map_cache_bytes``."""
        self._maps.update(encoded)
        size = {image: sum(m.nbytes for m in maps) for image, maps in self._maps.items()}
        total = sum(size.values())
        for image in list(self._maps):  # insertion order: the oldest first
            if total <= self.map_cache_bytes:
                break
            total -= size[image]
            del self._maps[image]

    def _coords(self, features: np.ndarray) -> np.ndarray:
        """The units' 2-D coordinates: on their features alone, or (metric learning, once two
        classes are known) on the head's embedding together with the earlier labelled units."""
        projection = Projection(MAIN_VIEW, self.seed, self.projection)
        known = self._past_labels[self._past_labels != IGNORE]
        if not self.metric_learning or len(np.unique(known)) < 2:
            return projection.fit(features)
        head, _ = train_head(self._past_features, self._past_labels, seed=self.seed + self.calls)
        embedded = embed(head, np.concatenate([self._past_features, features]))
        past = np.where(self._past_labels == IGNORE, UNLABELLED, self._past_labels.astype(int))
        targets = np.concatenate([past, np.full(len(features), UNLABELLED)])
        return projection.fit(embedded, targets)[len(self._past_labels) :]

    def _reprojection(self, features: np.ndarray) -> MetricReprojection | None:
        """The iterative protocol's re-projection within this call (``metric_rounds``),
        learning from this call's labels and, with ``metric_learning``, the earlier ones."""
        if not self.labeller.metric_rounds:
            return None
        known = self.metric_learning and len(self._past_labels)
        return MetricReprojection(
            features,
            seed=self.seed + self.calls,
            method=self.projection,
            known_features=self._past_features if known else None,
            known_labels=self._past_labels if known else None,
        )

    def _remember(self, features: np.ndarray, labels: np.ndarray) -> None:
        if not len(self._past_labels):
            self._past_features = np.zeros((0, features.shape[1]), np.float32)
        self._past_features = np.concatenate([self._past_features, features])[-self.history :]
        self._past_labels = np.concatenate([self._past_labels, labels])[-self.history :]

    def _crop(self, request: AnnotationRequest) -> np.ndarray:
        y0, x0, y1, x1 = request.box
        inside = np.zeros(request.image.shape[:2], bool)
        inside[y0:y1, x0:x1] = request.unit_mask
        box = np.array(request.box)
        return segment_crop(request.image, inside, box, self.crop_size, self.crop_margin)

    @staticmethod
    def _label_record(unit, k, label, box_of, boxes, seconds) -> dict:
        record = {**to_json(SegmentLabel((unit.region,), int(label))), "seconds": float(seconds)}
        if k in box_of:
            box = boxes[box_of[k]]
            record.update(
                box=[box.x0, box.y0, box.x1, box.y1],
                box_index=box_of[k],
                box_size=len(box.segments),
            )
        return record
