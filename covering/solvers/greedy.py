"""Lazy greedy set cover on an eta-neighbour graph, then removal of redundant centres.

The greedy rule (pick the candidate covering most still-uncovered points) is the classical
``H(max degree)``-approximation; laziness (a max-heap of stale gains, re-evaluated on pop) keeps
it near-linear in the number of edges. ``remove_redundant`` then drops every centre whose points
are all covered by other chosen centres.
"""

from __future__ import annotations

import heapq

import numpy as np

from covering.graph import Graph

__all__ = ["greedy_cover", "remove_redundant"]


def greedy_cover(g: Graph, *, sets: Graph | None = None) -> np.ndarray:
    """Greedy set cover.

    Parameters
    ----------
    g : Graph
        Rows are the points to cover; column ``j`` of row ``i`` means candidate ``j`` covers
        point ``i``. Every row must have at least one edge.
    sets : Graph, optional
        ``g.transpose()`` if already computed.

    Returns
    -------
    ndarray of int64, shape (m,)
        Chosen candidates (columns of ``g``), sorted, with redundant ones removed.
    """
    if g.n_rows == 0:
        return np.zeros(0, dtype=np.int64)
    if np.any(g.degrees() == 0):
        raise ValueError("some points have no candidate within eta: no cover exists")
    st = sets if sets is not None else g.transpose()
    indptr, members = st.indptr, st.indices
    covered = np.zeros(g.n_rows, dtype=bool)
    left = g.n_rows
    gains = np.diff(indptr)
    heap = [(-int(c), int(j)) for j, c in enumerate(gains) if c > 0]
    heapq.heapify(heap)
    chosen: list[int] = []
    while left > 0:
        neg, j = heapq.heappop(heap)
        m = members[indptr[j] : indptr[j + 1]]
        fresh = m[~covered[m]]
        gain = fresh.shape[0]
        if gain == -neg:
            chosen.append(j)
            covered[fresh] = True
            left -= gain
        elif gain > 0:
            heapq.heappush(heap, (-gain, j))
    return remove_redundant(g, np.asarray(chosen, dtype=np.int64), sets=st)


def remove_redundant(g: Graph, centres: np.ndarray, *, sets: Graph | None = None) -> np.ndarray:
    """Drop centres whose points are all covered by other centres.

    Centres are tried smallest coverage first, so large centres are kept.

    Parameters
    ----------
    g : Graph
    centres : ndarray of int64, shape (m,)
        A valid cover (columns of ``g``).

    Returns
    -------
    ndarray of int64, sorted, a subset of ``centres`` that still covers every row.
    """
    st = sets if sets is not None else g.transpose()
    indptr, members = st.indptr, st.indices
    count = np.zeros(g.n_rows, dtype=np.int64)
    for j in centres:
        count[members[indptr[j] : indptr[j + 1]]] += 1
    if np.any(count == 0):
        raise ValueError("remove_redundant: the given centres do not cover every point")
    sizes = indptr[centres + 1] - indptr[centres]
    keep = np.ones(centres.shape[0], dtype=bool)
    for pos in np.argsort(sizes, kind="stable"):
        j = centres[pos]
        m = members[indptr[j] : indptr[j + 1]]
        if count[m].min() >= 2:
            count[m] -= 1
            keep[pos] = False
    return np.sort(centres[keep])
