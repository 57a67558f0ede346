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

#: graphs with at least this many edges per row, and at most ``EAGER_MAX_COLS`` candidates, use
#: the eager greedy (exact gains updated with one bincount per choice; one argmax over all
#: candidates per choice, so it is kept to moderate candidate counts)
EAGER_MIN_DEGREE = 64
EAGER_MAX_COLS = 50_000


def greedy_cover(
    g: Graph,
    *,
    sets: Graph | None = None,
    start: np.ndarray | None = None,
    bonus: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy set cover.

    Parameters
    ----------
    g : Graph
        Rows are the points to cover; column ``j`` of row ``i`` means candidate ``j`` covers
        point ``i``. Every row must have at least one edge.
    sets : Graph, optional
        ``g.transpose(dist=False)`` if already computed.
    start : ndarray of int64, optional
        Candidates chosen before the greedy rule starts (e.g. those an LP sets to 1).
    bonus : ndarray of float64, shape (n_cols,), values in [0, 1), optional
        Added to each candidate's gain: breaks ties (e.g. by LP value) without overriding a
        larger gain.

    Returns
    -------
    ndarray of int64, shape (m,)
        Chosen candidates (columns of ``g``), sorted, with redundant ones removed.
    """
    if g.n_rows == 0:
        return np.zeros(0, dtype=np.int64)
    if np.any(g.degrees() == 0):
        raise ValueError("some points have no candidate within eta: no cover exists")
    st = sets if sets is not None else g.transpose(dist=False)
    indptr, members = st.indptr, st.indices
    covered = np.zeros(g.n_rows, dtype=bool)
    chosen: list[int] = []
    for j in np.unique(start) if start is not None else ():
        chosen.append(int(j))
        covered[members[indptr[j] : indptr[j + 1]]] = True
    left = g.n_rows - int(covered.sum())
    extra = np.zeros(st.n_rows) if bonus is None else np.clip(bonus, 0.0, 0.999)
    if start is not None and left > 0:
        owner = np.repeat(np.arange(st.n_rows), st.degrees())
        gains = np.bincount(owner, weights=~covered[members], minlength=st.n_rows)
    else:
        gains = np.diff(indptr).astype(np.float64)
    if left > 0 and g.n_edges >= EAGER_MIN_DEGREE * g.n_rows and st.n_rows <= EAGER_MAX_COLS:
        chosen += _eager(g, st, covered, gains + extra, left)
        return remove_redundant(g, np.asarray(chosen, dtype=np.int64), sets=st)
    heap = [(-(float(c) + float(extra[j])), j) for j, c in enumerate(gains.tolist()) if c > 0]
    heapq.heapify(heap)
    while left > 0:
        neg, j = heapq.heappop(heap)
        m = members[indptr[j] : indptr[j + 1]]
        fresh = m[~covered[m]]
        gain = fresh.shape[0]
        if gain == 0:
            continue
        key = gain + float(extra[j])
        if key >= -neg:
            chosen.append(j)
            covered[fresh] = True
            left -= gain
        else:
            heapq.heappush(heap, (-key, j))
    return remove_redundant(g, np.asarray(chosen, dtype=np.int64), sets=st)


def _eager(g: Graph, st: Graph, covered: np.ndarray, key: np.ndarray, left: int) -> list[int]:
    """The same greedy rule with exact gains kept up to date (dense graphs).

    When points become covered, every candidate covering them loses one unit of gain (one
    ``bincount`` over their rows of ``g``): O(E) in total plus one ``argmax`` per chosen centre,
    instead of the lazy heap's O(degree) re-evaluations, which dominate when sets are large.
    ``key`` (gain + bonus, float64 (n_cols,)) is updated in place; ties go to the smallest
    candidate."""
    indptr, members = st.indptr, st.indices
    rptr, rcols = g.indptr, g.indices
    chosen: list[int] = []
    while left > 0:
        j = int(np.argmax(key))
        m = members[indptr[j] : indptr[j + 1]]
        fresh = m[~covered[m]]
        covered[fresh] = True
        left -= fresh.shape[0]
        chosen.append(j)
        starts = rptr[fresh]
        lens = rptr[fresh + 1] - starts
        pos = np.repeat(starts - (np.cumsum(lens) - lens), lens)
        pos += np.arange(pos.shape[0], dtype=pos.dtype)
        key -= np.bincount(rcols[pos], minlength=key.shape[0])
    return chosen


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
    st = sets if sets is not None else g.transpose(dist=False)
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
