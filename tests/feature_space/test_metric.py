"""Metric learning: triplets are valid, and training tightens the clusters of toy features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from al_loop.data.base import IGNORE
from al_loop.feature_space.metric import (
    MetricParams,
    embed,
    make_head,
    sample_triplets,
    separation_ratio,
    train_head,
)


def toy_features(rng: np.random.Generator, per_class: int = 60):
    """Three classes that differ in 4 dimensions, drowned in 28 dimensions of larger noise."""
    centres = rng.normal(0, 1.0, (3, 4))
    labels = np.repeat(np.arange(3), per_class).astype(np.uint8)
    signal = centres[labels] + rng.normal(0, 0.3, (len(labels), 4))
    nuisance = rng.normal(0, 2.0, (len(labels), 28))
    return np.concatenate([signal, nuisance], axis=1).astype(np.float32), labels


def test_separation_ratio_by_hand():
    points = np.array([[0.0, 1.0], [0.0, -1.0], [10.0, 1.0], [10.0, -1.0]])
    labels = np.array([0, 0, 1, 1], np.uint8)
    assert separation_ratio(points, labels) == pytest.approx(10.0)
    assert separation_ratio(points * 7, labels) == pytest.approx(10.0)  # scale-free
    unlabelled = np.array([0, 0, IGNORE, IGNORE], np.uint8)
    assert np.isnan(separation_ratio(points, unlabelled))


def test_triplets_pair_a_class_with_another(rng):
    labels = np.array([0, 0, 1, 1, 1, IGNORE, 2], np.uint8)
    triplets = sample_triplets(labels, 200, rng)
    anchor, positive, negative = triplets.T
    assert (labels[anchor] == labels[positive]).all() and (anchor != positive).all()
    assert (labels[anchor] != labels[negative]).all()
    assert (labels[triplets] != IGNORE).all()
    assert set(labels[anchor]) == {0, 1}  # class 2 has no second member to pair with


def test_no_triplets_without_two_classes(rng):
    assert sample_triplets(np.array([1, 1, 1], np.uint8), 10, rng).shape == (0, 3)
    assert sample_triplets(np.array([0, 1, 2], np.uint8), 10, rng).shape == (0, 3)


def test_training_tightens_clusters_of_one_class(rng):
    features, labels = toy_features(rng)
    train_labels = labels.copy()
    train_labels[1::2] = IGNORE  # half the points labelled; measured on the other half too
    params = MetricParams()
    untrained = embed(make_head(features.shape[1], params, seed=0), features)
    head, losses = train_head(features, train_labels, params, seed=0)
    trained = embed(head, features)
    before = separation_ratio(untrained, labels)
    after = separation_ratio(trained, labels)
    held_out = np.where(train_labels == IGNORE, labels, IGNORE).astype(np.uint8)
    assert after > 1.5 * before
    assert after > separation_ratio(features, labels)
    assert separation_ratio(trained, held_out) > separation_ratio(untrained, held_out)
    assert len(losses) == params.epochs and losses[-1] < losses[0]
    assert np.allclose(np.linalg.norm(trained, axis=1), 1.0, atol=1e-5)


def test_training_is_deterministic_for_a_seed(rng):
    features, labels = toy_features(rng, per_class=10)
    params = MetricParams(epochs=1, triplets_per_epoch=50)
    a, _ = train_head(features, labels, params, seed=3)
    b, _ = train_head(features, labels, params, seed=3)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
