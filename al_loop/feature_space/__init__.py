"""Feature-space annotation: label many segments at once with a box in a 2-D projection.

After Bragantini, Falcão and Najman, "Rethinking interactive image segmentation: Feature space
annotation", Pattern Recognition 2022. ``build_feature_space`` is the pipeline; the labelling
functions are pure and shared by the app and the simulated box-labeller.
"""

from al_loop.feature_space.features import Encoder, Lite0Encoder, lite0_encoder, segment_features
from al_loop.feature_space.labelling import propagate_labels, select_in_box, split_segment
from al_loop.feature_space.metric import MetricParams, separation_ratio, train_head
from al_loop.feature_space.projection import (
    LOCAL_VIEW,
    MAIN_VIEW,
    Projection,
    UmapParams,
    warm_cache,
)
from al_loop.feature_space.segments import (
    majority_and_purity,
    pool_segments,
    segment_class_counts,
)
from al_loop.feature_space.space import FeatureSpace, SpaceParams, build_feature_space

__all__ = [
    "LOCAL_VIEW",
    "MAIN_VIEW",
    "Encoder",
    "FeatureSpace",
    "Lite0Encoder",
    "MetricParams",
    "Projection",
    "SpaceParams",
    "UmapParams",
    "build_feature_space",
    "lite0_encoder",
    "majority_and_purity",
    "pool_segments",
    "propagate_labels",
    "segment_class_counts",
    "segment_features",
    "select_in_box",
    "separation_ratio",
    "split_segment",
    "train_head",
    "warm_cache",
]
