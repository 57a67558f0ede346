"""The CSR graph built from edge lists: sorted, restricted, mirrored, with self-loops added."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from covering.graph import Graph, ensure_self_loops, mirror_upper

EDGES = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6), st.integers(0, 3)), max_size=30)


def _triples(g: Graph) -> list[tuple[int, int, float]]:
    """The edges in CSR order: (row, column, distance)."""
    rows = np.repeat(np.arange(g.n_rows), g.degrees())
    return list(zip(rows.tolist(), g.indices.tolist(), g.dist.tolist(), strict=True))


def _arrays(edges: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.array(edges, dtype=np.int64).reshape(-1, 3)
    return a[:, 0], a[:, 1], a[:, 2].astype(np.float64)


@settings(max_examples=50, deadline=None)
@given(edges=EDGES)
def test_from_edges_orders_by_row_then_distance(edges: list[tuple[int, int, int]]) -> None:
    g = Graph.from_edges(*_arrays(edges), 6, 7, 3.0)
    assert (g.n_rows, g.n_cols, g.eta, g.n_edges) == (6, 7, 3.0, len(edges))
    want = sorted(edges, key=lambda e: (e[0], e[2]))  # stable: ties keep their order
    assert _triples(g) == [(r, c, float(d)) for r, c, d in want]
    unsorted = Graph.from_edges(*_arrays(sorted(edges, key=lambda e: e[0])), 6, 7, 3.0, sort=False)
    assert _triples(unsorted) == [(r, c, float(d)) for r, c, d in sorted(edges, key=lambda e: e[0])]


@settings(max_examples=30, deadline=None)
@given(edges=EDGES, seed=st.integers(0, 100))
def test_restrict_keeps_the_flagged_edges_in_order(
    edges: list[tuple[int, int, int]], seed: int
) -> None:
    g = Graph.from_edges(*_arrays(edges), 6, 7, 3.0)
    keep = np.random.default_rng(seed).random(g.n_edges) < 0.5
    h = g.restrict(2.0, keep)
    assert h.eta == 2.0 and h.n_rows == 6 and h.n_cols == 7
    assert _triples(h) == [t for t, k in zip(_triples(g), keep.tolist(), strict=True) if k]


def test_ensure_self_loops_adds_only_the_missing_ones() -> None:
    g = Graph.from_edges(np.array([0, 1]), np.array([0, 2]), np.array([0.0, 0.5]), 3, 3, 1.0)
    h = ensure_self_loops(g)
    assert _triples(h) == [(0, 0, 0.0), (1, 1, 0.0), (1, 2, 0.5), (2, 2, 0.0)]
    assert ensure_self_loops(h) is h


@settings(max_examples=50, deadline=None)
@given(m=st.integers(1, 8), data=st.data())
def test_mirror_upper_is_symmetric_with_the_diagonal(m: int, data: st.DataObject) -> None:
    pairs = data.draw(st.sets(st.tuples(st.integers(0, m - 1), st.integers(0, m - 1))))
    upper = sorted((i, j) for i, j in pairs if i < j)
    rows = np.array([i for i, _ in upper], dtype=np.int64)
    cols = np.array([j for _, j in upper], dtype=np.int64)
    dist = np.array([0.1 * (i + j) for i, j in upper])
    g = mirror_upper(m, rows, cols, dist, 1.5)
    assert g.symmetric and g.transpose() is g and g.eta == 1.5 and g.n_cols == m
    want = {(i, j, 0.1 * (i + j)) for i, j in upper}
    want |= {(j, i, d) for i, j, d in want} | {(i, i, 0.0) for i in range(m)}
    assert set(_triples(g)) == want and g.n_edges == len(want)
    for r in range(m):  # lower neighbours, the row itself, then upper ones
        row = g.row(r).tolist()
        assert row == sorted(row)
