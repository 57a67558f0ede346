"""The k-NN-with-growing-k eta-graph (the GPU path's logic), run on CPU against eta_graph."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

import covering
from bench.data import mixture
from covering.gpu import knn_eta_graph
from covering.graph import Graph, eta_graph
from covering.metrics import exact_distances, prepare

pytestmark = pytest.mark.timeout(60)


def _edges(g: Graph) -> set[tuple[int, int]]:
    rows = np.repeat(np.arange(g.n_rows), g.degrees())
    return set(zip(rows.tolist(), g.indices.tolist(), strict=True))


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return np.asarray(mixture(1500, 12, per_component=150).X, dtype=np.float64)


@pytest.mark.parametrize(("metric", "eta"), [("l2", 2.5), ("linf", 1.2), ("cosine", 0.02)])
@pytest.mark.parametrize(("k0", "kmax"), [(1, None), (4, 16), (64, None)])
def test_knn_graph_equals_eta_graph(
    data: np.ndarray, metric: str, eta: float, k0: int, kmax: int | None
) -> None:
    Z = prepare(data, metric)
    ref = eta_graph(Z, eta, metric, index="flat")
    got = knn_eta_graph(Z, eta, metric, k0=k0, kmax=kmax, block=400)
    assert k0 == 64 or ref.degrees().max() > 4 * k0  # k really grows
    assert _edges(got) == _edges(ref)
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    rows = np.repeat(np.arange(got.n_rows), got.degrees())
    exact = exact_distances(Z[rows], Z[got.indices], metric)
    assert np.all(exact <= eta)
    for i in range(0, got.n_rows, 97):  # rows sorted by distance
        assert np.all(np.diff(got.dist[got.indptr[i] : got.indptr[i + 1]]) >= 0)
    assert np.all(got.indices[got.indptr[:-1]] >= 0)


def test_kmax_fallback_is_exact(data: np.ndarray) -> None:
    Z = prepare(data, "l2")
    eta = 3.0  # dense: many rows have more than kmax neighbours
    ref = eta_graph(Z, eta, "l2", index="flat")
    assert ref.degrees().max() > 8
    got = knn_eta_graph(Z, eta, "l2", k0=2, kmax=8, block=256)
    assert _edges(got) == _edges(ref)


@pytest.mark.parametrize("metric", ["l2", "linf"])
@pytest.mark.parametrize("exponent", [-600, 600])
def test_knn_graph_is_scale_invariant(data: np.ndarray, metric: str, exponent: int) -> None:
    # far outside float32's range: FAISS must see rescaled rows (power of two: same decisions)
    Z = prepare(data[:500], metric)
    eta = 2.5 if metric == "l2" else 1.2
    ref = knn_eta_graph(Z, eta, metric, k0=8)
    s = 2.0**exponent
    got = knn_eta_graph(Z * s, eta * s, metric, k0=8)
    assert _edges(got) == _edges(ref)


def test_knn_graph_validates() -> None:
    with pytest.raises(ValueError, match="metric"):
        knn_eta_graph(np.zeros((3, 2)), 1.0, "l3")
    with pytest.raises(ValueError, match="eta"):
        knn_eta_graph(np.zeros((3, 2)), 0.0, "l2")
    with pytest.raises(ValueError, match="k0"):
        knn_eta_graph(np.zeros((3, 2)), 1.0, "l2", k0=0)


def _gpus() -> int:
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


@pytest.mark.gpu
@pytest.mark.skipif(_gpus() == 0, reason="FAISS sees no GPU")
def test_gpu_graph_and_cover(data: np.ndarray) -> None:  # pragma: no cover - needs a GPU
    from covering.gpu import eta_graph_gpu

    Z = prepare(data, "l2")
    assert _edges(eta_graph_gpu(Z, 1.6, "l2", k0=2)) == _edges(eta_graph(Z, 1.6, "l2"))
    y = np.arange(data.shape[0]) % 3
    cov = covering.cover(data, y, eta=1.6, backend="gpu", method="greedy")
    assert cov.backend == "gpu"
    covering.verify(data, cov, y)
