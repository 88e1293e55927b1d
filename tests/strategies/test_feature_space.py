"""Feature-space strategy: cluster scores by hand, and ranking whole clusters on toy data."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import SelectionContext
from al_loop.core.units import GridUnits, Unit
from strategies import make_strategy
from strategies.feature_space import (
    FeatureSpaceStrategy,
    cluster_scores,
    normalised_entropy,
    order_by_cluster,
)
from tests.fakes import CentroidSegmenter, make_toy_data


class PixelColourSegmenter(CentroidSegmenter):
    """The fake segmenter with per-pixel features: the pixel's colour."""

    def pixel_features(self, images):
        return images.transpose(0, 3, 1, 2).astype(np.float32)


def test_normalised_entropy_by_hand():
    counts = np.array([[4, 0], [2, 2], [0, 0]])
    assert normalised_entropy(counts) == pytest.approx([0.0, 1.0, 0.0])


def test_mixed_and_uncovered_clusters_score_higher():
    clusters = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 1])
    labelled = np.array([True, True, False, False, True, False])
    scores = cluster_scores(clusters, predicted, labelled, num_classes=2)
    # cluster 0: pure, fully labelled; 1: evenly mixed, unlabelled; 2: pure, half labelled
    assert scores == pytest.approx([0.0, 2.0, 0.5])
    only_mixed = cluster_scores(clusters, predicted, labelled, 2, coverage_weight=0.0)
    assert only_mixed == pytest.approx([0.0, 1.0, 0.0])


def test_order_takes_whole_clusters_best_first():
    clusters = np.array([0, 1, 0, 1, 2])
    scores = np.array([0.5, 2.0, 1.0])
    within = np.array([0.1, 0.2, 0.9, 0.8, 0.0])
    available = np.array([True, True, True, False, True])
    assert order_by_cluster(clusters, scores, within, available).tolist() == [1, 4, 2, 0]


def context(data, labelled=()):
    segmenter = PixelColourSegmenter()
    segmenter.fit(data.images, data.masks, seed=0)
    return SelectionContext(
        pool=data,
        unit_space=GridUnits(len(data), data.hw, cell=16),
        labelled=set(labelled),
        segmenter=segmenter,
        rng=np.random.default_rng(0),
        round_index=1,
    )


def test_rank_returns_available_units_deterministically():
    data = make_toy_data(4)
    strategy = make_strategy("feature_space", projection="pca", clusters=3)
    taken = {Unit(0, 0), Unit(1, 2)}
    ranked = strategy.rank(context(data, taken), count=6)
    assert len(ranked.units) == 6 and not set(ranked.units) & taken
    assert ranked.scores == sorted(ranked.scores, reverse=True)
    again = strategy.rank(context(data, taken), count=6)
    assert again == ranked


def test_rank_everything_when_asked_for_more_than_the_pool():
    data = make_toy_data(2)
    ranked = FeatureSpaceStrategy(projection="pca").rank(context(data), count=100)
    assert sorted(ranked.units) == GridUnits(2, data.hw, cell=16).units()


def test_large_pools_fit_a_subsample_and_transform_the_rest():
    strategy = FeatureSpaceStrategy(projection="pca", max_fit_points=4)
    features = np.arange(20, dtype=np.float32).reshape(10, 2)
    coords = strategy.project(features, seed=0)
    assert coords.shape == (10, 2)
    assert np.all(np.diff(coords[:, 0]) > 0)  # one line, in order, fitted and transformed alike


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="projection"):
        make_strategy("feature_space", projection="tsne")
    with pytest.raises(ConfigError):
        make_strategy("feature_space", clusters=0)
