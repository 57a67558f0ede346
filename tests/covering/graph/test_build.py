"""eta-graphs equal the brute-force float64 graph, including pairs exactly at distance eta."""

from __future__ import annotations

import numpy as np
import pytest

from covering.graph import RangeIndex, eta_graph, neighbours
from covering.metrics import prepare
from tests.covering.reference import pairwise


def _pairs(mask):
    rows, cols = np.nonzero(mask)
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


def _edges(g):
    rows = np.repeat(np.arange(g.n_rows), g.degrees())
    return set(zip(rows.tolist(), g.indices.tolist(), strict=False))


@pytest.mark.parametrize("metric", ["l2", "linf", "cosine"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_graph_equals_brute_force(metric, seed):
    rng = np.random.default_rng(seed)
    # integer grid points: many pairs at exactly eta, where float32 rounding matters
    X = rng.integers(-3, 4, size=(300, 3)).astype(np.float64) + 100.0
    eta = {"l2": 2.0, "linf": 1.0, "cosine": 1e-4}[metric]
    Z = prepare(X, metric)
    g = eta_graph(Z, eta, metric)
    D = pairwise(X, metric)
    # the engine's own float64 formula decides exact ties; allow 1 ulp of formula difference
    truth = _pairs(eta >= D)
    got = _edges(g)
    near = _pairs(np.abs(D - eta) <= 1e-12 * max(1.0, eta))
    assert got - near == truth - near
    assert np.all(g.dist <= eta + 1e-12)
    assert got == {(j, i) for i, j in got}  # symmetric
    for i in range(0, 300, 37):
        assert i in g.row(i)  # self-loops exist
    # neighbours(): within each row, edges are sorted by distance
    h = neighbours(Z, Z, eta, metric)
    assert _edges(h) - near == truth - near
    for i in range(0, 300, 37):
        assert np.all(np.diff(h.dist[h.indptr[i] : h.indptr[i + 1]]) >= 0)


def test_far_from_origin_l2_is_exact():
    # large offsets make float32 |x|^2 + |y|^2 - 2<x,y> useless without centring and re-checks
    rng = np.random.default_rng(0)
    X = 1e4 + rng.integers(0, 3, size=(200, 4)).astype(np.float64)
    g = eta_graph(X, 1.0, "l2")
    D = pairwise(X, "l2")
    assert _edges(g) == set(zip(*[a.tolist() for a in np.nonzero(D <= 1.0)], strict=False))


def test_neighbours_rectangular_and_empty():
    rng = np.random.default_rng(1)
    Q, C = rng.random((50, 3)), rng.random((20, 3))
    g = neighbours(Q, C, 0.3, "l2")
    D = np.sqrt(((Q[:, None] - C[None]) ** 2).sum(-1))
    assert _edges(g) == set(zip(*[a.tolist() for a in np.nonzero(D <= 0.3)], strict=False))
    ri = RangeIndex(C[:0], "l2", index="flat", shift=np.zeros(3))
    assert ri.search(Q, 0.3).n_edges == 0


def test_transpose_roundtrip():
    rng = np.random.default_rng(2)
    X = rng.random((100, 2))
    g = eta_graph(X, 0.2, "l2")
    assert _edges(g.transpose()) == {(j, i) for i, j in _edges(g)}
    assert g.symmetric and g.transpose() is g  # a set with itself: its own transpose
    h = neighbours(X, X[:60], 0.2, "l2")  # rectangular, not symmetric
    assert not h.symmetric
    assert _edges(h.transpose()) == {(j, i) for i, j in _edges(h)}
    lean = h.transpose(dist=False)
    assert _edges(lean) == _edges(h.transpose())
    assert lean.dist.shape == (0,) and lean.indices.dtype == np.int32
    np.testing.assert_array_equal(lean.degrees(), h.transpose().degrees())
