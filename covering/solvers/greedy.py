"""Greedy set cover on an eta-neighbour graph, then removal of redundant centres.

The greedy rule (pick the candidate covering most still-uncovered points; ties to the smallest
candidate) is the classical ``H(max degree)``-approximation. Gains are kept exact: when points
become covered, every candidate covering them loses one unit (``np.subtract.at`` over their rows
of the graph, O(E) over the whole run). The next choice is an ``argmax`` over all candidates
(``_eager``, on dense graphs up to ``EAGER_MAX_COLS`` candidates) or the top of a heap whose
stale entries are spotted in O(1) against the exact gains (``_lazy``); both make the same
choices.
``remove_redundant`` then drops every centre whose points are all covered by other chosen
centres.
"""

from __future__ import annotations

import heapq

import numpy as np

from covering.graph import Graph

__all__ = ["greedy_cover", "remove_redundant"]

#: dense graphs (at least this many edges per row: few choices) with at most
#: ``EAGER_MAX_COLS`` candidates choose by one ``argmax`` over all candidates (O(n_cols) per
#: choice; measured crossover with the heap on a 100,000-row class: ~170,000 candidates).
#: Sparse graphs need many choices (up to one per row), where the heap's O(log) pops win.
EAGER_MIN_DEGREE = 64
EAGER_MAX_COLS = 150_000


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
    key = np.zeros(st.n_rows) if bonus is None else np.clip(bonus, 0.0, 0.999)
    if start is not None and left > 0:
        owner = np.repeat(np.arange(st.n_rows), st.degrees())
        key += np.bincount(owner, weights=~covered[members], minlength=st.n_rows)
    else:
        key += np.diff(indptr)
    if left > 0:
        dense = g.n_edges >= EAGER_MIN_DEGREE * g.n_rows
        pick = _eager if dense and st.n_rows <= EAGER_MAX_COLS else _lazy
        chosen += pick(g, st, covered, key, left)
    return remove_redundant(g, np.asarray(chosen, dtype=np.int64), sets=st)


def _take(g: Graph, st: Graph, covered: np.ndarray, key: np.ndarray, j: int) -> int:
    """Choose candidate ``j``: mark its points covered and take them off every candidate's
    gain in ``key`` (in place). Returns the number of points newly covered."""
    m = st.indices[st.indptr[j] : st.indptr[j + 1]]
    fresh = m[~covered[m]]
    covered[fresh] = True
    starts = g.indptr[fresh]
    lens = g.indptr[fresh + 1] - starts
    pos = np.repeat(starts - (np.cumsum(lens) - lens), lens)
    pos += np.arange(pos.shape[0], dtype=pos.dtype)
    np.subtract.at(key, g.indices[pos], 1.0)
    return int(fresh.shape[0])


def _eager(g: Graph, st: Graph, covered: np.ndarray, key: np.ndarray, left: int) -> list[int]:
    """Greedy choices by ``argmax`` of the exact ``key`` (gain + bonus, float64 (n_cols,));
    ties go to the smallest candidate."""
    chosen: list[int] = []
    while left > 0:
        j = int(np.argmax(key))
        left -= _take(g, st, covered, key, j)
        chosen.append(j)
    return chosen


def _lazy(g: Graph, st: Graph, covered: np.ndarray, key: np.ndarray, left: int) -> list[int]:
    """The same choices as :func:`_eager` from a max-heap of ``(-key, j)``.

    Keys only decrease, so every heap entry is >= its candidate's exact key; an entry that
    differs from the exact key is stale and goes back with the exact value. The first entry
    popped that is still exact is the largest key, ties to the smallest candidate."""
    heap = [(-k, j) for j, k in enumerate(key.tolist()) if k >= 1.0]
    heapq.heapify(heap)
    chosen: list[int] = []
    while left > 0:
        neg, j = heapq.heappop(heap)
        now = float(key[j])
        if -neg != now:
            if now >= 1.0:
                heapq.heappush(heap, (-now, j))
            continue
        left -= _take(g, st, covered, key, j)
        chosen.append(j)
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
