"""The large-n path of covering.graph: IVF with exact list pruning, exact edges, valid covers."""

from __future__ import annotations

import numpy as np
import pytest

import covering
from bench.data import mixture
from covering.graph import Graph, RangeIndex, eta_graph, neighbours
from covering.metrics import exact_distances, prepare

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    ds = mixture(12_000, 24, per_component=400)
    return np.asarray(ds.X), ds.y


def _brute(Z: np.ndarray, eta: float, metric: str) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for s in range(0, Z.shape[0], 512):
        A = Z[s : s + 512]
        if metric == "linf":
            D = np.abs(A[:, None, :] - Z[None, :, :]).max(axis=2)
        elif metric == "cosine":
            D = 1.0 - A @ Z.T
        else:
            D = np.sqrt(
                np.maximum((A * A).sum(1)[:, None] + (Z * Z).sum(1)[None, :] - 2 * A @ Z.T, 0)
            )
        r, c = np.nonzero(eta * (1 + 1e-6) + 1e-9 >= D)
        ex = exact_distances(A[r], Z[c], metric)  # decide near-ties exactly
        ok = ex <= eta
        out.update(zip((s + r[ok]).tolist(), c[ok].tolist(), strict=True))
    return out


def _edges(g: Graph) -> set[tuple[int, int]]:
    rows = np.repeat(np.arange(g.n_rows), g.degrees())
    return set(zip(rows.tolist(), g.indices.tolist(), strict=True))


@pytest.mark.parametrize(("metric", "eta"), [("l2", 1.6), ("cosine", 0.02)])
def test_ivf_edges_exact_and_complete(
    data: tuple[np.ndarray, np.ndarray], metric: str, eta: float
) -> None:
    X, _ = data
    Z = prepare(X[:4000].astype(np.float64), metric)
    ri = RangeIndex(Z, metric, index="ivf")
    assert ri.kind == "ivf"
    g = ri.search(Z, eta, block=1000)
    rows = np.repeat(np.arange(g.n_rows), g.degrees())
    exact = exact_distances(Z[rows], Z[g.indices], metric)
    assert np.all(exact <= eta)  # every accepted edge is within eta
    assert _edges(g) == _brute(Z, eta, metric)  # the triangle-inequality pruning misses none
    for i in range(0, g.n_rows, 101):
        assert np.all(np.diff(g.dist[g.indptr[i] : g.indptr[i + 1]]) >= 0)
    unsorted = ri.search(Z, eta, block=1000, sort=False)  # FAISS's order within rows
    np.testing.assert_array_equal(unsorted.indptr, g.indptr)
    assert _edges(unsorted) == _edges(g)


def test_auto_index_uses_ivf_on_clustered_data(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    Z = prepare(X.astype(np.float64), "l2")
    assert RangeIndex(Z, "l2", index="auto", eta_hint=1.6).kind == "ivf"
    g = neighbours(Z, Z, 1.6, "l2", index="auto")
    ref = neighbours(Z, Z, 1.6, "l2", index="flat")
    assert _edges(g) == _edges(ref)


def test_ivf_falls_back_to_flat_when_pruning_fails() -> None:
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((4500, 8))
    ri = RangeIndex(Z, "l2", index="auto")  # no eta_hint: IVF first, flat after one block
    assert ri.kind == "ivf"
    g = ri.search(Z, 2.5)  # unclustered data, wide radius: pruning cannot pay
    assert ri.kind == "flat"
    assert _edges(g) == _edges(neighbours(Z, Z, 2.5, "l2", index="flat"))
    assert RangeIndex(Z, "l2", index="auto", eta_hint=2.5).kind == "flat"  # sampled first


def test_ivf_add_keeps_pruning_exact(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    Z = prepare(X[:3000].astype(np.float64), "l2")
    ri = RangeIndex(Z[:2000], "l2", index="ivf")
    ri.add(Z[2000:])
    assert _edges(ri.search(Z, 1.6)) == _brute(Z, 1.6, "l2")


def test_large_path_cover_valid(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    cov = covering.cover(X, y, eta=1.6, method="greedy", index="ivf", lower_bound=False)
    covering.verify(X, cov, y)
    assert cov.radius <= 1.6
    flat = covering.cover(X, y, eta=1.6, method="greedy", index="flat", lower_bound=False)
    assert cov.size == flat.size  # same (exact) graph, same greedy cover


def test_transpose_is_exact(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    Z = prepare(X[:2000].astype(np.float64), "l2")
    g = eta_graph(Z, 1.6, "l2")
    t = g.transpose()
    assert {(j, i) for i, j in _edges(g)} == _edges(t)
    assert t.n_rows == g.n_cols and t.n_cols == g.n_rows
    for j in range(0, t.n_rows, 53):  # O(E) counting sort: columns in increasing order
        assert np.all(np.diff(t.indices[t.indptr[j] : t.indptr[j + 1]]) > 0)
    rows = np.repeat(np.arange(t.n_rows), t.degrees())
    np.testing.assert_allclose(t.dist, exact_distances(Z[rows], Z[t.indices], "l2"), atol=1e-2)
