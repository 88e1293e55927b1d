"""Projection: the linear path by hand, the UMAP path on separated blobs, the cache location."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.feature_space.projection import (
    LOCAL_VIEW,
    MAIN_VIEW,
    ExactKnnIndex,
    Projection,
    default_cache_dir,
    local_projection,
)


def blobs(rng, per_blob=30, dims=16):
    centres = np.eye(3, dims) * 20
    labels = np.repeat(np.arange(3), per_blob)
    return (centres[labels] + rng.normal(0, 1, (len(labels), dims))).astype(np.float32), labels


def test_views_have_the_papers_settings():
    assert (MAIN_VIEW.n_neighbors, MAIN_VIEW.min_dist, MAIN_VIEW.target_weight) == (15, 0.01, 0.5)
    assert (LOCAL_VIEW.n_neighbors, LOCAL_VIEW.min_dist) == (5, 0.1)


def test_linear_projection_keeps_the_main_axis_and_transforms_consistently():
    features = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 1e-3]], np.float32)
    projection = Projection(method="pca")
    coords = projection.fit(features)
    assert coords.shape == (4, 2) and coords.dtype == np.float32
    assert np.allclose(np.diff(coords[:, 0]), 1.0, atol=1e-3)  # the x axis, increasing
    np.testing.assert_allclose(projection.transform(features), coords, atol=1e-5)


def test_a_umap_projection_leaves_torch_at_its_thread_count():
    """umap resets numba's (so OpenMP's, so torch's) thread count to every core after a fit;
    a run at one thread must stay at one thread."""
    numba = pytest.importorskip("numba")
    torch = pytest.importorskip("torch")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba's default is one thread here: nothing to reset")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        features, _ = blobs(np.random.default_rng(0), per_blob=10)
        projection = Projection(MAIN_VIEW, seed=0)
        projection.fit(features)
        assert torch.get_num_threads() == 1
        projection.transform(features[:3])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_tiny_sets_fall_back_to_the_linear_map():
    coords = Projection().fit(np.array([[0.0, 1.0], [2.0, 1.0]], np.float32))
    assert coords.shape == (2, 2) and abs(coords[1, 0] - coords[0, 0]) == pytest.approx(2.0)
    assert Projection().fit(np.zeros((1, 3), np.float32)).shape == (1, 2)


def test_bad_use_is_refused():
    with pytest.raises(ConfigError, match="projection.method"):
        Projection(method="tsne")
    with pytest.raises(RuntimeError, match="fit before transform"):
        Projection(method="pca").transform(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"\[S,D\]"):
        Projection(method="pca").fit(np.zeros(3))


def test_exact_index_returns_self_first(rng):
    features, _ = blobs(rng, per_blob=5)
    indices, distances = ExactKnnIndex(features).query(features, 3)
    assert indices.dtype == np.int32 and distances.dtype == np.float32
    assert (indices[:, 0] == np.arange(len(features))).all()
    assert np.allclose(distances[:, 0], 0, atol=1e-3)  # brute force: float round-off only


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AL_LOOP_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("AL_LOOP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "al_loop"


def nearest_same_label(coords, labels) -> float:
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(axis=1)] == labels).mean())


@pytest.mark.slow  # compiles umap's numba code on a cold cache (cached after the first run)
def test_umap_separates_blobs_semi_supervised_and_transforms_new_points(rng):
    features, labels = blobs(rng)
    projection = Projection(seed=0)
    coords = projection.fit(features)
    assert coords.shape == (90, 2) and nearest_same_label(coords, labels) == 1.0
    again = Projection(seed=0).fit(features)
    np.testing.assert_allclose(again, coords)  # deterministic for a seed
    new, new_labels = blobs(np.random.default_rng(1), per_blob=3)
    placed = projection.transform(new)
    centroids = np.stack([coords[labels == c].mean(axis=0) for c in range(3)])
    nearest = np.linalg.norm(placed[:, None] - centroids[None], axis=-1).argmin(axis=1)
    assert (nearest == new_labels).all()
    targets = np.where(np.arange(90) % 3 == 0, labels, -1)
    assert nearest_same_label(Projection(seed=0).fit(features, targets), labels) == 1.0
    assert local_projection(features[:30], seed=0).shape == (30, 2)
