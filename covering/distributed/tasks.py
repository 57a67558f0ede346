"""The Ray tasks of a sharded cover, one call per shard and stage (run in the workers).

1. :func:`_local_cover_task` - cover one shard on its own; its centres become candidates.
2. :func:`_coverage_task` - for every row, the same-label candidates within ``eta`` (CSR).
3. :func:`_assign_task` - every row's nearest chosen candidate within ``eta`` and its exact
   distance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from covering.api import cover, validate_X
from covering.distributed.params import _Params
from covering.distributed.shards import BLOCK_ROWS, Source, _x_of, _y_of
from covering.gpu import gpu_available
from covering.graph import Graph, RangeIndex, build_graph
from covering.metrics import exact_distances, prepare
from covering.result import CoverError
from covering.solvers import greedy_cover

__all__: list[str] = []

_INT32_MAX = int(np.iinfo(np.int32).max)


def _int_array(a: np.ndarray, limit: int) -> np.ndarray:
    """``a`` as int32 when every value fits (``limit`` is the largest possible value)."""
    return a.astype(np.int32 if limit <= _INT32_MAX else np.int64, copy=False)


class _LabelIndex:
    """Range search of query rows against the candidates that carry their label.

    Parameters
    ----------
    C : ndarray, shape (k, d), original dtype
        Candidate rows (not prepared).
    c_labels : ndarray of int64, shape (k,), or None
    pos : ndarray of int64, shape (k,)
        Id returned for each candidate (its position in the global candidate list).
    """

    def __init__(
        self, C: np.ndarray, c_labels: np.ndarray | None, pos: np.ndarray, params: _Params
    ) -> None:
        self.params = params
        self.groups: dict[int | None, tuple[np.ndarray, np.ndarray]] = {}
        keys: list[int | None] = (
            [None] if c_labels is None else [int(v) for v in np.unique(c_labels)]
        )
        for key in keys:
            sel = np.arange(C.shape[0]) if key is None else np.flatnonzero(c_labels == key)
            Z = prepare(C[sel], params.metric)
            self.groups[key] = (pos[sel], Z)
        self._index: dict[int | None, RangeIndex] = {}
        self._flat: dict[int | None, RangeIndex] = {}

    def _get(self, key: int | None, flat: bool) -> RangeIndex:
        cache = self._flat if flat else self._index
        if key not in cache:
            _, Z = self.groups[key]
            cache[key] = RangeIndex(
                Z,
                self.params.metric,
                index="flat" if flat else self.params.index,
                seed=self.params.seed,
            )
        return cache[key]

    def search(
        self, X: np.ndarray, y: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges ``(row, candidate id, distance)`` with exact distance ``<= eta``.

        Rows are positions in ``X`` (shape (b, d)); within a row, edges come nearest first.
        A row an approximate index left without any edge is searched again exactly (flat), so
        no row loses a candidate that lies within ``eta``.
        """
        eta = self.params.eta
        parts_r, parts_c, parts_d = [], [], []
        keys: list[int | None] = [None] if y is None else [int(v) for v in np.unique(y)]
        for key in keys:
            rows = np.arange(X.shape[0]) if key is None else np.flatnonzero(y == key)
            if key not in self.groups:
                continue  # no candidate of this label: its rows stay uncovered (caught later)
            ids = self.groups[key][0]
            Q = prepare(X[rows], self.params.metric)
            g = self._get(key, flat=False).search(Q, eta)
            deg = g.degrees()
            if np.any(deg == 0) and self._get(key, flat=False).kind != "flat":
                miss = np.flatnonzero(deg == 0)
                g = _merge_rows(g, miss, self._get(key, flat=True).search(Q[miss], eta))
                deg = g.degrees()
            parts_r.append(np.repeat(rows, deg))
            parts_c.append(ids[g.indices])
            parts_d.append(g.dist)
        if not parts_r:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        r, c, d = np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_d)
        order = np.lexsort((d, r))
        return r[order], c[order], d[order]


def _merge_rows(g: Graph, rows: np.ndarray, extra: Graph) -> Graph:
    """``g`` with the (empty) ``rows`` replaced by the rows of ``extra``."""
    src = np.repeat(np.arange(g.n_rows, dtype=np.int64), g.degrees())
    r = np.concatenate([src, np.repeat(rows, extra.degrees())])
    c = np.concatenate([g.indices, extra.indices])
    d = np.concatenate([g.dist, extra.dist])
    return Graph.from_edges(r, c, d, g.n_rows, g.n_cols, g.eta)


def _local_graph(Z: np.ndarray, params: _Params) -> tuple[Graph, str]:
    """The eta-graph of one class of a shard, on the GPU when this worker's FAISS sees one."""
    backend = "gpu" if gpu_available() else "cpu"
    g = build_graph(
        Z, params.eta, params.metric, backend=backend, index=params.index, seed=params.seed
    )
    return g, backend


def _greedy_rounds(g: Graph, rounds: int) -> np.ndarray:
    """Candidate centres of one class: ``rounds`` disjoint greedy covers of its eta-graph.

    Round 1 is a cover of every row. Round ``r > 1`` greedily covers, with points not chosen
    before, the rows that still have such a neighbour; the extra candidates give the driver's
    set cover alternatives that a single local cover does not see.

    Returns
    -------
    ndarray of int64, sorted: columns of ``g``.
    """
    chosen = greedy_cover(g)
    for _ in range(rounds - 1):
        used = np.zeros(g.n_cols, dtype=bool)
        used[chosen] = True
        keep = ~used[g.indices]
        g2 = g.restrict(g.eta, keep)
        deg = g2.degrees()
        live = deg > 0
        if not live.any():
            break
        sub = Graph(
            np.concatenate([[0], np.cumsum(deg[live])]), g2.indices, g2.dist, g.n_cols, g.eta
        )
        chosen = np.union1d(chosen, greedy_cover(sub))
    return chosen


def _local_cover_task(
    src: Source, lab: Source | None, params: _Params, shard: int
) -> dict[str, Any]:
    """Stage 1: cover one shard on its own; return its candidate centres (rows and data)."""
    if params.on_task is not None:
        params.on_task("local", shard)
    X = validate_X(_x_of(src, params.column))  # rejects NaN/inf, blockwise
    y = _y_of(lab, src, params.label_column)
    if params.method == "net":
        cov = cover(
            X,
            y,
            eta=params.eta,
            metric=params.metric,
            method="net",
            seed=params.seed,
            lower_bound=False,
            index=params.index,
        )
        centres, backend = cov.indices, cov.backend
    else:
        groups = (
            [np.arange(X.shape[0])] if y is None else [np.flatnonzero(y == v) for v in np.unique(y)]
        )
        found: list[np.ndarray] = []
        backend = "cpu"
        for rows in groups:
            g, backend = _local_graph(prepare(X[rows], params.metric), params)
            found.append(rows[_greedy_rounds(g, params.rounds)])
        centres = np.sort(np.concatenate(found))
    return {
        "centres": centres.astype(np.int64),
        "rows": np.ascontiguousarray(X[centres]),
        "labels": None if y is None else y[centres],
        "backend": backend,
    }


def _coverage_task(
    src: Source, lab: Source | None, cands: dict[str, Any], params: _Params, shard: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2: for every row, the same-label candidates within eta (CSR over candidate ids)."""
    if params.on_task is not None:
        params.on_task("coverage", shard)
    X = _x_of(src, params.column)
    y = _y_of(lab, src, params.label_column)
    n = X.shape[0]
    k = int(cands["rows"].shape[0])
    li = _LabelIndex(cands["rows"], cands["labels"], np.arange(k, dtype=np.int64), params)
    counts = np.zeros(n, dtype=np.int64)
    cols: list[np.ndarray] = []
    for s in range(0, n, BLOCK_ROWS):
        e = min(n, s + BLOCK_ROWS)
        r, c, _ = li.search(np.asarray(X[s:e]), None if y is None else y[s:e])
        counts[s:e] = np.bincount(r, minlength=e - s)
        cols.append(_int_array(c, k))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return _int_array(indptr, int(indptr[-1])), (
        np.concatenate(cols) if cols else np.zeros(0, np.int32)
    )


def _assign_task(
    src: Source,
    lab: Source | None,
    cands: dict[str, Any],
    chosen: np.ndarray,
    params: _Params,
    shard: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 4: nearest chosen candidate within eta of every row, and its exact distance."""
    if params.on_task is not None:
        params.on_task("assign", shard)
    X = _x_of(src, params.column)
    y = _y_of(lab, src, params.label_column)
    n = X.shape[0]
    C = cands["rows"][chosen]
    cl = None if cands["labels"] is None else cands["labels"][chosen]
    li = _LabelIndex(C, cl, np.asarray(chosen, dtype=np.int64), params)
    Z = prepare(C, params.metric)
    where = np.searchsorted(chosen, np.arange(cands["rows"].shape[0]))
    best = np.full(n, -1, dtype=np.int64)
    dist = np.zeros(n)
    for s in range(0, n, BLOCK_ROWS):
        e = min(n, s + BLOCK_ROWS)
        Xb = np.asarray(X[s:e])
        r, c, _ = li.search(Xb, None if y is None else y[s:e])
        if r.size:
            first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
            best[s + r[first]] = c[first]
        blk = best[s:e]
        if np.any(blk < 0):
            i = s + int(np.flatnonzero(blk < 0)[0])
            raise CoverError(f"shard {shard}: row {i} has no chosen centre within eta")
        dist[s:e] = exact_distances(prepare(Xb, params.metric), Z[where[blk]], params.metric)
    return _int_array(best, int(cands["rows"].shape[0])), dist
