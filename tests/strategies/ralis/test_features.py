import numpy as np
import pytest

from strategies.ralis.features import (
    KL_RANGE,
    action_features,
    action_size,
    boxes_of,
    descriptor_size,
    kl_divergence,
    kl_histograms,
    mean_entropy,
    observation_features,
    region_descriptors,
    sample_at_stride,
)


def test_region_descriptors_hand_computed():
    # one 2x4 image, two 2x2 regions; left: confident class 0; right: half unsure pixels
    probs = np.zeros((1, 2, 2, 4))
    probs[0, 0, :, :2] = 1.0
    probs[0, 1, :, 2:] = 1.0
    probs[0, :, 0, 3] = [0.5, 0.5]  # entropy 1 after normalising by ln 2
    index = np.array([[[0, 0, 1, 1], [0, 0, 1, 1]]])
    boxes = np.array([[0, 0, 2, 2], [0, 2, 2, 4]])
    d = region_descriptors(probs, index, boxes, grid=1)
    assert d.shape == (2, descriptor_size(2, 1)) == (2, 5)
    # argmax of the tie [0.5, 0.5] is class 0
    assert d[0].tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0, 0.0])
    assert d[1].tolist() == pytest.approx([0.25, 0.75, 0.0, 0.25, 1.0], abs=1e-5)


def test_entropy_is_pooled_per_sub_box():
    probs = np.zeros((1, 2, 2, 2))
    probs[0, 0] = 1.0
    probs[0, :, 1, 1] = 0.5
    d = region_descriptors(probs, np.zeros((1, 2, 2), int), np.array([[0, 0, 2, 2]]), grid=2)
    low, mean, high = d[0, 2:].reshape(3, 4)  # sub-boxes in raster order
    assert high.tolist() == pytest.approx([0, 0, 0, 1], abs=1e-5)
    assert mean.tolist() == pytest.approx([0, 0, 0, 1], abs=1e-5)


def test_kl_histograms_place_identical_and_disjoint_distributions_at_the_ends():
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    kl = kl_divergence(p, p)
    assert kl[0, 0] == pytest.approx(0.0, abs=1e-4) and kl[0, 1] > KL_RANGE
    h = kl_histograms(p, p, bins=3)
    assert h.tolist() == [[0.5, 0.0, 0.5], [0.5, 0.0, 0.5]]
    rivals = kl_histograms(p, p, bins=3, exclude_self=True)
    assert rivals.tolist() == [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    assert kl_histograms(p, np.zeros((0, 2)), bins=3).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_action_features_add_the_pool_relative_descriptor_and_both_kl_histograms():
    descriptors = np.random.default_rng(0).random((5, descriptor_size(3, 2))).astype(np.float32)
    out = action_features(descriptors, descriptors[:2, :3], num_classes=3, bins=4)
    d = descriptors.shape[1]
    assert out.shape == (5, action_size(3, 2, 4)) == (5, 2 * d + 8)
    assert np.array_equal(out[:, :d], descriptors)
    assert np.allclose(out[:, d : 2 * d], descriptors - descriptors.mean(0), atol=1e-6)
    assert np.allclose(out[:, d : 2 * d].sum(0), 0.0, atol=1e-5)
    assert np.allclose(out[:, -8:-4].sum(1), 1.0) and np.allclose(out[:, -4:].sum(1), 1.0)


def test_observation_features_compare_candidates_with_the_labelled_regions():
    rng = np.random.default_rng(1)
    descriptors = rng.random((6, descriptor_size(3, 2))).astype(np.float32)
    state = rng.random((4, descriptor_size(3, 2)))
    labelled = np.array([True, False, False, True, False, False])
    pools = [np.array([1, 2]), np.array([4, 5])]
    out_state, actions = observation_features(state, descriptors, labelled, pools, 3, 4)
    assert out_state.dtype == np.float32 and np.allclose(out_state, state)
    for pool, a in zip(pools, actions, strict=True):
        expected = action_features(descriptors[pool], descriptors[[0, 3], :3], 3, 4)
        assert np.array_equal(a, expected)
    # indices select the same labelled regions as the mask
    _, by_index = observation_features(state, descriptors, np.array([0, 3]), pools, 3, 4)
    assert all(np.array_equal(a, b) for a, b in zip(actions, by_index, strict=True))


def test_mean_entropy_reads_the_mean_of_the_sub_box_means():
    probs = np.zeros((1, 2, 2, 2))
    probs[0, 0] = 1.0
    probs[0, :, 1, 1] = 0.5  # one of four pixels fully uncertain
    d = region_descriptors(probs, np.zeros((1, 2, 2), int), np.array([[0, 0, 2, 2]]), grid=2)
    actions = action_features(d, d[:, :2], num_classes=2, bins=2)
    assert mean_entropy(actions, num_classes=2, grid=2) == pytest.approx([0.25], abs=1e-5)


def test_sample_at_stride_takes_each_feature_pixels_centre():
    maps = np.arange(6 * 9).reshape(1, 6, 9)
    out = sample_at_stride(maps)  # stride 4: rows 2 and min(6, 5); cols 2, 6 and min(10, 8)
    assert out.shape == (1, *(2, 3)) == (1, 2, 3)
    assert out.tolist() == [[[maps[0, 2, 2], maps[0, 2, 6], maps[0, 2, 8]],
                             [maps[0, 5, 2], maps[0, 5, 6], maps[0, 5, 8]]]]  # fmt: skip


def test_boxes_of_hand_computed():
    index = np.array([[[0, 0, 1], [2, 2, 1]]])
    boxes = boxes_of(index, 4)
    assert boxes.tolist() == [[0, 0, 1, 2], [0, 2, 2, 3], [1, 0, 2, 2], [0, 0, 0, 0]]
