"""2-D projection of segment features with umap-learn, and a persistent cache of its compiled code.

Main view: 15 neighbours, min_dist 0.01; local re-projection of a selected subset: 5 neighbours,
min_dist 0.1; semi-supervised (target weight 0.5) when some segments carry labels, as in
Bragantini et al., Pattern Recognition 2022. New segments are ``transform``-ed into a fitted
projection instead of refitting it.

Why the cache: umap-learn and pynndescent are numba code. Projecting 5,000 points in a fresh
process costs umap as shipped 115 CPU s the first time and still 33 CPU s once its own cache is
warm, mostly compiling functions it does not mark ``cache=True`` and its NN-descent search.
Two measures: :func:`import_umap` imports umap with numba's ``jit``/``njit`` defaulting to
``cache=True`` and ``NUMBA_CACHE_DIR`` pointing at a per-user directory, so the machine code is
written once and a fresh process loads it; and the neighbour search is exact
(:class:`ExactKnnIndex`), so NN-descent never compiles. A fresh process with a warm cache then
projects 5,000 points in 9.5 CPU s (29 cold). :func:`warm_cache` compiles every path the
feature space uses on a few random points; ``python -m al_loop.feature_space`` runs it.
Numbers: benchmarks/bench_feature_space.py (2-core machine, CPU seconds).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from al_loop.core.errors import ConfigError

CACHE_ENV = "AL_LOOP_CACHE_DIR"  # overrides the cache root (default: the user's cache dir)
UNLABELLED = -1  # umap's marker for a segment without a label in semi-supervised fitting
MIN_UMAP_POINTS = 8  # below this UMAP's spectral layout degenerates; a linear map is used


@dataclass(frozen=True)
class UmapParams:
    n_neighbors: int = 15
    min_dist: float = 0.01
    target_weight: float = 0.5  # 0: labels only; 1: features only (umap's convention)
    metric: str = "euclidean"


MAIN_VIEW = UmapParams(n_neighbors=15, min_dist=0.01)
LOCAL_VIEW = UmapParams(n_neighbors=5, min_dist=0.1)


def default_cache_dir() -> Path:
    """``$AL_LOOP_CACHE_DIR``, else ``$XDG_CACHE_HOME/al_loop``, else ``~/.cache/al_loop``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "al_loop"


_IMPORT_LOCK = threading.Lock()


def _cache_by_default(decorator):
    @functools.wraps(decorator)
    def caching(*args, **kwargs):
        kwargs.setdefault("cache", True)
        return decorator(*args, **kwargs)

    return caching


@functools.cache
def import_umap(cache_dir: str | None = None) -> Any:
    """The ``umap`` module, its numba functions compiled once per machine into ``cache_dir``
    (default :func:`default_cache_dir` / numba). A ``NUMBA_CACHE_DIR`` set by the user wins.

    If umap was imported before (by other code), it is returned as is: its functions were
    decorated already, so only the ones umap itself marks ``cache=True`` are cached.
    """
    with _IMPORT_LOCK:
        if "umap" in sys.modules:
            return sys.modules["umap"]
        target = os.environ.get("NUMBA_CACHE_DIR") or str(
            Path(cache_dir) if cache_dir else default_cache_dir() / "numba"
        )
        try:
            Path(target).mkdir(parents=True, exist_ok=True)
        except OSError as err:  # no writable cache: compile in every process, as umap does
            message = f"umap: no numba cache ({target}: {err}); expect a slow first call"
            warnings.warn(message, stacklevel=2)
            import umap

            return umap
        os.environ["NUMBA_CACHE_DIR"] = target  # read when numba is first imported...
        import numba

        numba.config.CACHE_DIR = target  # ...and here if numba was imported already
        original = numba.jit, numba.njit
        numba.jit, numba.njit = (_cache_by_default(d) for d in original)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=numba.NumbaWarning)
                import umap
        finally:
            numba.jit, numba.njit = original
        return umap


@contextmanager
def keeping_torch_threads() -> Iterator[None]:
    """Give torch back its thread count after the block. umap's fit sets numba's thread count
    to ``n_jobs`` and, when done, back to numba's default (every core); numba's OpenMP layer
    sets OpenMP's count, which is torch's. Without this a run at ``threads: 1`` trained and
    encoded on every core after its first projection (2 threads per run on this 2-core
    machine), and its torch results depended on whether a projection had run yet."""
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if torch is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


class ExactKnnIndex:
    """Exact nearest neighbours (scikit-learn, brute force) behind umap's search-index API.

    umap's own search (pynndescent's NN-descent, used from 4,096 points) still compiled for
    36 s of a 46 s fit of 5,000 points in a fresh process with a warm cache (this machine,
    loaded); for the thousands to tens of thousands of segments of a feature space an exact
    search costs a second or two and is deterministic.
    """

    _angular_trees = False  # read by umap's transform to pick its search epsilon

    def __init__(self, data: np.ndarray, metric: str = "euclidean"):
        from sklearn.neighbors import NearestNeighbors

        self._search = NearestNeighbors(algorithm="brute", metric=metric, n_jobs=1).fit(data)

    def query(self, queries: np.ndarray, k: int, epsilon: float = 0.0):
        """(indices int32 [n,k], distances float32 [n,k]), nearest first."""
        distances, indices = self._search.kneighbors(queries, n_neighbors=k)
        return indices.astype(np.int32), distances.astype(np.float32)


class Projection:
    """A 2-D projection fitted on some segments' features; more segments are transformed in.

    ``method``: "umap" (the default) or "pca" (linear, instant, no numba; for quick looks and
    tests). Deterministic for a ``seed`` (umap then runs single-threaded).
    """

    METHODS = ("umap", "pca")

    def __init__(self, params: UmapParams = MAIN_VIEW, seed: int = 0, method: str = "umap"):
        if method not in self.METHODS:
            raise ConfigError(
                f"projection.method: unknown '{method}'; valid: {', '.join(self.METHODS)}"
            )
        self.params, self.seed, self.method = params, seed, method
        self._umap: Any = None
        self._mean: np.ndarray | None = None
        self._basis: np.ndarray | None = None

    def fit(self, features: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """float32 [S,2]. ``labels`` int [S] (``UNLABELLED`` = -1 where unknown) makes the
        fit semi-supervised; all unlabelled is the same as none."""
        features = np.asarray(features, np.float32)
        if features.ndim != 2:
            raise ValueError(f"projection: features must be [S,D], got {features.shape}")
        supervised = labels is not None and (np.asarray(labels) != UNLABELLED).any()
        self._umap = None
        if self.method == "pca" or len(features) < MIN_UMAP_POINTS:
            return self._fit_linear(features)
        umap = import_umap()
        neighbours = min(self.params.n_neighbors, len(features) - 1)
        index = ExactKnnIndex(features, self.params.metric)
        knn_indices, knn_distances = index.query(features, neighbours)
        self._umap = umap.UMAP(
            n_neighbors=neighbours,
            min_dist=self.params.min_dist,
            target_weight=self.params.target_weight,
            metric=self.params.metric,
            random_state=self.seed,
            n_jobs=1,
            precomputed_knn=(knn_indices, knn_distances, index),
        )
        with warnings.catch_warnings(), keeping_torch_threads():
            warnings.filterwarnings("ignore", message=".*n_jobs.*overridden.*")
            warnings.filterwarnings("ignore", message=".*knn_search_index.*")
            target = np.asarray(labels, np.int64) if supervised else None
            return self._umap.fit_transform(features, y=target).astype(np.float32)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """float32 [S',2]: new segments placed in the fitted projection (not refitted)."""
        features = np.asarray(features, np.float32)
        if self._umap is None and self._basis is None:
            raise RuntimeError("projection: fit before transform")
        if len(features) == 0:
            return np.zeros((0, 2), np.float32)
        if self._umap is None:
            return ((features - self._mean) @ self._basis).astype(np.float32)
        with keeping_torch_threads():
            return self._umap.transform(features).astype(np.float32)

    def _fit_linear(self, features: np.ndarray) -> np.ndarray:
        self._mean = features.mean(axis=0) if len(features) else np.zeros(features.shape[1])
        centred = features - self._mean
        if len(features) >= 2:
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            basis = vt[:2]
            basis *= np.sign(basis[np.arange(len(basis)), np.abs(basis).argmax(axis=1)])[:, None]
        else:
            basis = np.zeros((0, features.shape[1]))
        self._basis = np.pad(basis, ((0, 2 - len(basis)), (0, 0))).T.astype(np.float32)
        return (centred @ self._basis).astype(np.float32)


def local_projection(
    features: np.ndarray, labels: np.ndarray | None = None, seed: int = 0, method: str = "umap"
) -> np.ndarray:
    """float32 [S,2]: a re-projection of a selected subset (5 neighbours, min_dist 0.1), which
    spreads a crowded cluster out so that a box can split it."""
    return Projection(LOCAL_VIEW, seed, method).fit(features, labels)


def warm_cache(seed: int = 0) -> None:
    """Compile (and so cache) every numba path the feature space uses: unsupervised and
    semi-supervised fits of both views, and transform. A few seconds once it is cached."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(64, 8)).astype(np.float32)
    labels = np.where(rng.random(64) < 0.5, rng.integers(0, 2, 64), UNLABELLED)
    for params in (MAIN_VIEW, LOCAL_VIEW):
        projection = Projection(params, seed)
        projection.fit(features)
        projection.transform(features[:4])
        Projection(params, seed).fit(features, labels)
