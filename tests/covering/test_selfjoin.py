"""self_graph (upper-triangle self range search) equals the brute-force float64 eta-graph."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covering.graph import RangeIndex, ensure_self_loops
from covering.metrics import prepare
from covering.selfjoin import self_graph
from tests.covering.reference import pairwise


def _edges(g):
    rows = np.repeat(np.arange(g.n_rows), g.degrees())
    return set(zip(rows.tolist(), g.indices.tolist(), strict=True))


def _check(X, eta, metric, block):
    Z = prepare(X, metric)
    g = self_graph(Z, eta, metric, block=block)
    D = pairwise(X, metric)
    near = np.abs(D - eta) <= 1e-12 * max(1.0, eta)
    truth = set(zip(*[a.tolist() for a in np.nonzero((eta >= D) & ~near)], strict=True))
    got = _edges(g)
    ties = set(zip(*[a.tolist() for a in np.nonzero(near)], strict=True))
    assert got - ties == truth
    assert got == {(j, i) for i, j in got}
    assert all((i, i) in got for i in range(X.shape[0]))
    rows = np.repeat(np.arange(g.n_rows), g.degrees())
    # distances: exact near the threshold, FAISS's float32 value (tiny error) elsewhere
    np.testing.assert_allclose(g.dist, D[rows, g.indices], atol=1e-5 * max(1.0, eta))
    # the same edges as the general (query x candidates) range search
    flat = ensure_self_loops(RangeIndex(Z, metric, index="flat").search(Z, eta))
    assert got == _edges(flat)
    return g


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("block", [1, 7, 64, 512])
def test_ties_on_a_grid(metric, block):
    rng = np.random.default_rng(block)
    X = rng.integers(-3, 4, size=(150, 3)).astype(np.float64) + 100.0
    _check(X, {"l2": 2.0, "cosine": 1e-4}[metric], metric, block)


def test_constant_columns_and_identical_rows():
    rng = np.random.default_rng(0)
    X = np.zeros((120, 10))
    X[:, 2:5] = rng.integers(0, 3, size=(120, 3))
    X[:, 7] = 5.0  # constant, dropped from FAISS's copy, never from the exact check
    X[60:] = X[:60]  # duplicates: distance exactly 0
    _check(X, 1.0, "l2", 32)
    _check(np.ones((9, 4)), 0.5, "l2", 4)  # every column constant


def test_single_row_and_rejects_linf():
    g = self_graph(np.zeros((1, 3)), 1.0, "l2")
    assert g.n_edges == 1 and g.indices.tolist() == [0]
    with pytest.raises(ValueError, match="l2 and cosine"):
        self_graph(np.zeros((3, 3)), 1.0, "linf")


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 80),
    st.integers(1, 6),
    st.floats(0.05, 3.0),
    st.integers(1, 40),
    st.integers(0, 2**31 - 1),
)
def test_matches_brute_force(m, d, eta, block, seed):
    X = np.random.default_rng(seed).normal(size=(m, d))
    _check(X, eta, "l2", block)
