"""The iterative protocol: metric learning on the labels so far, the rest re-projected, boxed
again (MetricReprojection driving the simulated box-labeller) on a tiny hand-made pool."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.data.base import IGNORE
from al_loop.feature_space.iterative import MetricReprojection
from al_loop.feature_space.metric import embed, separation_ratio
from al_loop.feature_space.projection import Projection
from simulators.box_labeller import BoxLabeller

PRICES = {
    "feature_space_box": 5.0,
    "feature_space_segment": 0.0,
    "feature_space_click": 1.0,
    "region_label": 2.0,
}


def xor_pool():
    """Features [36,3]. Four clusters of 6 whose place (dims 0, 1) is an XOR of the class, so
    only dim 2 (the class, +-1, small variance) tells classes apart linearly; and 12 points on
    a line (dim 1) alternating classes, which a 2-D view of the large dims interleaves."""
    rng = np.random.default_rng(0)
    rows, classes = [], []
    for x, y, c in [(10, 0, 0), (-10, 30, 0), (10, 30, 1), (-10, 0, 1)]:
        for _ in range(6):
            rows.append([x + rng.normal(0, 0.3), y + rng.normal(0, 0.3), 2 * c - 1])
            classes.append(c)
    for k in range(12):
        rows.append([0.0, 2.5 * k, 2 * (k % 2) - 1])
        classes.append(k % 2)
    return np.array(rows, np.float32), np.array(classes, np.uint8)


def label(rounds: int, seed: int = 0, **params):
    features, classes = xor_pool()
    coords = Projection(method="pca").fit(features)
    reproject = MetricReprojection(features, seed=seed, method="pca", **params)
    labeller = BoxLabeller(PRICES, purity=1.0, metric_rounds=rounds)
    result = labeller.label_projection(coords, classes, 2, reproject if rounds else None)
    return result, reproject, labeller


def test_metric_learning_lets_a_second_pass_box_what_the_first_could_not():
    (labels0, seconds0, boxes0, singles0), _, _ = label(rounds=0)
    (labels1, seconds1, boxes1, singles1), reproject, labeller = label(rounds=3)
    _, classes = xor_pool()
    line = set(range(24, 36))
    assert len(singles0) > 0 and set(singles0) <= line  # the first view cannot pair them
    assert labeller.reprojections == 1 and len(reproject.rounds) == 1
    assert boxes1[: len(boxes0)] == boxes0  # the first pass is the same
    later = boxes1[len(boxes0) :]
    assert later and all(set(b.segments) <= set(singles0) for b in later)  # new boxes
    assert len(singles1) < len(singles0) and seconds1.sum() < seconds0.sum()
    assert (labels1 == classes).all()


def test_the_head_separates_the_segments_the_first_pass_left():
    _, reproject, _ = label(rounds=1)
    features, classes = xor_pool()
    first = reproject.rounds[0]
    left = np.where(first.remaining, classes, IGNORE)
    before = separation_ratio(features, left)
    after = separation_ratio(embed(first.head, features), left)
    assert after > 2 * before
    assert first.labelled == int((~first.remaining).sum())  # trained on every label so far


def test_same_seed_same_boxes_and_coordinates():
    (a, _, boxes_a, _), rep_a, _ = label(rounds=2, seed=3)
    (b, _, boxes_b, _), rep_b, _ = label(rounds=2, seed=3)
    assert boxes_a == boxes_b
    np.testing.assert_array_equal(a, b)
    features, _ = xor_pool()
    np.testing.assert_array_equal(
        embed(rep_a.rounds[0].head, features), embed(rep_b.rounds[0].head, features)
    )


def test_only_the_remaining_segments_are_projected_unless_anchored():
    features, classes = xor_pool()
    labels = np.where(np.arange(len(classes)) < 24, classes, IGNORE).astype(np.uint8)
    remaining = labels == IGNORE
    coords = MetricReprojection(features, method="pca")(labels, remaining)
    assert (coords[~remaining] == 0).all() and coords[remaining].std() > 0
    anchored = MetricReprojection(features, method="pca", anchored=True)(labels, remaining)
    assert (anchored[~remaining] != 0).any()


def test_without_learning_the_features_themselves_are_reprojected():
    features, classes = xor_pool()
    labels = np.where(np.arange(len(classes)) < 24, classes, IGNORE).astype(np.uint8)
    remaining = labels == IGNORE
    reproject = MetricReprojection(features, method="pca", learn=False)
    coords = reproject(labels, remaining)
    expected = Projection(method="pca").fit(features[remaining])
    np.testing.assert_allclose(coords[remaining], expected, atol=1e-5)
    assert reproject.rounds[0].head is None


def test_earlier_labels_train_the_head_too_and_shapes_are_checked():
    features, classes = xor_pool()
    with pytest.raises(ValueError, match="known_features"):
        MetricReprojection(features, known_features=features, known_labels=classes[:3])
    reproject = MetricReprojection(features, method="pca")
    with pytest.raises(ValueError, match="segments"):
        reproject(classes[:5], np.ones(5, bool))
    # nothing labelled in this session, but earlier calls' labels suffice to learn
    unlabelled = np.full(len(classes), IGNORE, np.uint8)
    learnt = MetricReprojection(
        features, method="pca", known_features=features[:24], known_labels=classes[:24]
    )
    learnt(unlabelled, np.ones(len(classes), bool))
    line = np.where(np.arange(len(classes)) >= 24, classes, IGNORE)
    embedded = embed(learnt.rounds[0].head, features)
    assert separation_ratio(embedded, line) > 2 * separation_ratio(features, line)
