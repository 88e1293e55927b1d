"""The feature space of a pool: segments, their features, and a 2-D projection to label in.

``build_feature_space`` runs the pipeline of Bragantini et al. (Pattern Recognition 2022):
hierarchical-watershed segments per image -> each segment's crop through a pretrained encoder
-> UMAP to 2-D. ``FeatureSpace.extend`` transforms the segments of new images into the fitted
projection; ``FeatureSpace.refine`` trains a metric-learning head on the labels so far and
re-projects (semi-supervised), so clusters of one class tighten round by round.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from al_loop.data.base import IGNORE
from al_loop.feature_space.features import (
    CROP_MARGIN,
    CROP_SIZE,
    Encoder,
    lite0_encoder,
    segment_features,
)
from al_loop.feature_space.metric import MetricParams, ProjectionHead, embed, train_head
from al_loop.feature_space.projection import (
    MAIN_VIEW,
    UNLABELLED,
    Projection,
    local_projection,
)
from al_loop.feature_space.segments import (
    DEFAULT_CRITERION,
    DEFAULT_THRESHOLD,
    check_images,
    pool_segments,
    segment_boxes,
)


@dataclass(frozen=True)
class SpaceParams:
    """How segments are cut, cropped and projected; kept so that new images match."""

    criterion: str = DEFAULT_CRITERION
    threshold: float | None = DEFAULT_THRESHOLD
    num_regions: int | None = None
    sigma: float = 1.0
    crop_size: int = CROP_SIZE
    crop_margin: float = CROP_MARGIN
    projection: str = "umap"  # or "pca" (linear, no numba)
    seed: int = 0


@dataclass
class FeatureSpace:
    segments: np.ndarray  # int32 [N,H,W], ids 0..S-1 unique across images
    segment_image: np.ndarray  # int64 [S]: the image of each segment
    features: np.ndarray  # float32 [S,D]: encoder features (before any metric head)
    coords: np.ndarray  # float32 [S,2]: the projection the user boxes in
    params: SpaceParams = SpaceParams()
    projection: Projection | None = field(default=None, repr=False)
    head: ProjectionHead | None = field(default=None, repr=False)  # after ``refine``

    @property
    def num_segments(self) -> int:
        return len(self.segment_image)

    def boxes(self) -> np.ndarray:
        """int64 [S,4]: (y0, x0, y1, x1) of each segment in its image."""
        return segment_boxes(self.segments)

    def embedded(self) -> np.ndarray:
        """What the projection is fitted on: the features, through the metric head if any."""
        return self.features if self.head is None else embed(self.head, self.features)

    def local_view(self, selected: np.ndarray) -> np.ndarray:
        """float32 [k,2]: the ``selected`` segments (bool [S] or ids) re-projected on their own
        (5 neighbours, min_dist 0.1), to split a crowded cluster with further boxes."""
        return local_projection(
            self.embedded()[selected], seed=self.params.seed, method=self.params.projection
        )

    def refine(
        self, segment_labels: np.ndarray, metric: MetricParams | None = None
    ) -> FeatureSpace:
        """A new space whose projection is fitted, semi-supervised, on the features through a
        head trained on ``segment_labels`` (uint8 [S], IGNORE where unlabelled)."""
        segment_labels = np.asarray(segment_labels)
        head, _ = train_head(
            self.features, segment_labels, metric or MetricParams(), self.params.seed, self.head
        )
        targets = np.where(segment_labels == IGNORE, UNLABELLED, segment_labels.astype(np.int64))
        projection = Projection(MAIN_VIEW, self.params.seed, self.params.projection)
        coords = projection.fit(embed(head, self.features), targets)
        return dataclasses.replace(self, coords=coords, projection=projection, head=head)

    def extend(self, images: np.ndarray, encoder: Encoder | None = None) -> FeatureSpace:
        """A new space with the segments of ``images`` appended (ids continue), placed by
        ``transform`` into the fitted projection; the existing coordinates do not move."""
        if self.projection is None:
            raise RuntimeError("feature space: no fitted projection to extend")
        images = check_images(images)
        p = self.params
        segments, segment_image = pool_segments(
            images, p.criterion, p.threshold, p.num_regions, p.sigma
        )
        features = segment_features(
            images,
            segments,
            segment_image,
            encoder or lite0_encoder(),
            None,
            p.crop_size,
            p.crop_margin,
        )
        new_coords = self.projection.transform(
            features if self.head is None else embed(self.head, features)
        )
        return dataclasses.replace(
            self,
            segments=np.concatenate([self.segments, segments + self.num_segments]),
            segment_image=np.concatenate([self.segment_image, segment_image + len(self.segments)]),
            features=np.concatenate([self.features, features]),
            coords=np.concatenate([self.coords, new_coords]),
        )


def build_feature_space(
    images: np.ndarray,
    *,
    criterion: str = DEFAULT_CRITERION,
    threshold: float | None = DEFAULT_THRESHOLD,
    num_regions: int | None = None,
    sigma: float = 1.0,
    gradients: np.ndarray | None = None,
    seed: int = 0,
    encoder: Encoder | None = None,
    crop_size: int = CROP_SIZE,
    crop_margin: float = CROP_MARGIN,
    projection: str = "umap",
    segment_labels: np.ndarray | None = None,
) -> FeatureSpace:
    """Segments, features and 2-D coordinates of every segment of ``images`` (uint8 [N,H,W,3]).

    ``criterion``/``threshold`` (or ``num_regions`` per image) cut the higra watershed
    hierarchy; ``gradients`` float [N,H,W] (e.g. a segmenter's boundary probability) replace
    the colour edges. ``encoder``: ``uint8 [B,h,w,3] -> float32 [B,D]`` (default: pretrained
    Lite0; a trained segmenter's ``features`` fits). ``segment_labels`` (uint8 [S], IGNORE where
    unknown) make the projection semi-supervised.
    """
    images = check_images(images)
    params = SpaceParams(
        criterion, threshold, num_regions, sigma, crop_size, crop_margin, projection, seed
    )
    segments, segment_image = pool_segments(
        images, criterion, threshold, num_regions, sigma, gradients
    )
    features = segment_features(
        images, segments, segment_image, encoder or lite0_encoder(), None, crop_size, crop_margin
    )
    targets = None
    if segment_labels is not None:
        segment_labels = np.asarray(segment_labels)
        targets = np.where(segment_labels == IGNORE, UNLABELLED, segment_labels.astype(np.int64))
    fitted = Projection(MAIN_VIEW, seed, projection)
    coords = fitted.fit(features, targets)
    return FeatureSpace(segments, segment_image, features, coords, params, fitted)
