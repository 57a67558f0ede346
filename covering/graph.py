"""Sparse eta-neighbour graphs, built with FAISS in blocks and re-checked exactly.

A :class:`Graph` is a CSR adjacency: row ``i`` (a point to cover) lists the columns ``j`` (the
candidate centres) with ``d(Q[i], C[j]) <= eta``. FAISS proposes candidates in float32 with a
slightly inflated radius; every edge whose FAISS value lies within the float32 error bound of the
threshold is re-computed exactly in float64, so the edge set is exactly the float64 eta-graph
(up to edges FAISS's *approximate* indexes may miss, which only costs cover size, never validity).
Memory is O(n * average degree); no dense n x n matrix is ever formed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import faiss
import numpy as np

from covering.metrics import FaissView, exact_distances

__all__ = ["Graph", "RangeIndex", "neighbours", "eta_graph", "make_index", "gpu_available"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

#: default query block (rows per FAISS range-search call)
BLOCK = 4096
#: classes larger than this use an approximate (IVF) index unless told otherwise
FLAT_MAX = 60_000


@dataclass(frozen=True)
class Graph:
    """CSR adjacency of an eta-neighbour graph.

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_rows + 1,)
    indices : ndarray of int64, shape (E,)
        Column (candidate) of each edge, sorted by distance within a row.
    dist : ndarray of float64, shape (E,)
        Distance of each edge in metric units: exact for edges near the threshold, FAISS's
        float32 value otherwise (error below ``tol``).
    n_cols : int
    eta : float
        Radius of the graph: every edge has exact distance ``<= eta``.
    """

    indptr: np.ndarray
    indices: np.ndarray
    dist: np.ndarray
    n_cols: int
    eta: float

    @property
    def n_rows(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        return int(self.indices.shape[0])

    def degrees(self) -> np.ndarray:
        """Number of edges of each row, int64 (n_rows,)."""
        return np.diff(self.indptr)

    def row(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def transpose(self) -> Graph:
        """The graph with rows and columns swapped (CSR of the transpose)."""
        rows = np.repeat(np.arange(self.n_rows, dtype=np.int64), self.degrees())
        order = np.lexsort((self.dist, self.indices))
        counts = np.bincount(self.indices, minlength=self.n_cols)
        indptr = np.zeros(self.n_cols + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return Graph(indptr, rows[order], self.dist[order], self.n_rows, self.eta)

    def restrict(self, eta: float, keep: np.ndarray) -> Graph:
        """Sub-graph of the edges flagged by ``keep`` (bool (E,)) at a smaller radius ``eta``."""
        rows = np.repeat(np.arange(self.n_rows, dtype=np.int64), self.degrees())[keep]
        counts = np.bincount(rows, minlength=self.n_rows)
        indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return Graph(indptr, self.indices[keep], self.dist[keep], self.n_cols, float(eta))


def gpu_available() -> bool:
    """True when the installed FAISS sees at least one GPU."""
    get = getattr(faiss, "get_num_gpus", None)
    try:
        return bool(get and get() > 0)
    except Exception:  # pragma: no cover - broken CUDA installs
        return False


def make_index(C32: np.ndarray, view: FaissView, kind: str, *, seed: int = 0) -> faiss.Index:
    """A FAISS index over the float32 rows ``C32`` (shape (m, d)).

    ``kind`` is ``"flat"`` (exact) or ``"ivf"`` (IVF-Flat with ~4 sqrt(m) lists, probing enough
    lists for a high edge recall; the candidate distances it returns are still flat float32
    distances, so the same error bound applies).
    """
    d = C32.shape[1]
    metric = faiss.METRIC_Linf if view.faiss_metric == "linf" else faiss.METRIC_L2
    if kind == "flat" or C32.shape[0] < 4096 or view.faiss_metric == "linf":
        index = faiss.IndexFlat(d, metric)
        index.add(C32)
        return index
    nlist = int(min(max(16, 4 * np.sqrt(C32.shape[0])), C32.shape[0] // 39))
    quantizer = faiss.IndexFlat(d, metric)
    ivf = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
    ivf.cp.seed = seed
    rng = np.random.default_rng(seed)
    train = C32[rng.choice(C32.shape[0], size=min(C32.shape[0], 256 * nlist), replace=False)]
    ivf.train(np.ascontiguousarray(train))
    ivf.add(C32)
    ivf.nprobe = max(1, min(nlist, nlist // 8))
    return ivf


def _to32(Z: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(Z - shift, dtype=np.float32)


class RangeIndex:
    """FAISS index over candidate rows, answering exact eta-range queries.

    Parameters
    ----------
    C : ndarray of float64, shape (nc, d)
        Candidate rows, already prepared for the metric.
    metric : {"l2", "linf", "cosine"}
    index : {"auto", "flat", "ivf"}
    shift : ndarray of float64, shape (d,), optional
        Translation applied before the float32 cast (default: the mean of ``C``); centring
        shrinks norms and so FAISS's rounding error.
    """

    def __init__(
        self,
        C: np.ndarray,
        metric: str,
        *,
        index: str = "auto",
        shift: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        self.metric = metric
        self.view = FaissView.of(metric)
        self.dim = int(C.shape[1])
        self.shift = (C.mean(axis=0) if C.shape[0] else np.zeros(self.dim)) if shift is None \
            else np.asarray(shift, dtype=np.float64)
        C32 = _to32(C, self.shift)
        self.kind = index if index != "auto" else ("flat" if C.shape[0] <= FLAT_MAX else "ivf")
        self.index = make_index(C32, self.view, self.kind, seed=seed)
        self.C = C
        self.tol = self.view.tolerance(C32, self.dim)

    @property
    def size(self) -> int:
        return int(self.C.shape[0])

    def add(self, C_more: np.ndarray) -> None:
        """Append candidate rows (prepared float64 (k, d))."""
        C32 = _to32(C_more, self.shift)
        self.index.add(C32)
        self.C = np.concatenate([self.C, C_more]) if self.C.shape[0] else C_more
        self.tol = max(self.tol, self.view.tolerance(C32, self.dim))

    def search(
        self,
        Q: np.ndarray,
        eta: float,
        *,
        block: int = BLOCK,
        progress: ProgressFn | None = None,
    ) -> Graph:
        """Exact graph of the pairs ``(i, j)`` with ``d(Q[i], C[j]) <= eta``.

        Parameters
        ----------
        Q : ndarray of float64, shape (nq, d), prepared
        eta : float
        block : int
            Query rows per FAISS call.
        progress : callable(done, total), optional
        """
        view, metric, C = self.view, self.metric, self.C
        nq = Q.shape[0]
        thr = view.to_faiss(eta)
        indptr = np.zeros(nq + 1, dtype=np.int64)
        cols: list[np.ndarray] = []
        dists: list[np.ndarray] = []
        for start in range(0, nq, block):
            stop = min(nq, start + block)
            q32 = _to32(Q[start:stop], self.shift)
            tol = max(self.tol, view.tolerance(q32, self.dim))
            radius = float(np.nextafter(np.float32(thr + tol), np.float32(np.inf)))
            if self.size == 0:
                lims, D, Ind = np.zeros(stop - start + 1, np.int64), np.zeros(0), np.zeros(0)
            else:
                lims, D, Ind = self.index.range_search(q32, radius)
            lims = np.asarray(lims, dtype=np.int64)
            D = np.asarray(D, dtype=np.float64)
            Ind = np.asarray(Ind, dtype=np.int64)
            rows = np.repeat(np.arange(start, stop, dtype=np.int64), np.diff(lims))
            keep = D <= thr - tol
            band = ~keep & (D <= thr + tol)
            dist = view.from_faiss(D)
            if band.any():
                exact = exact_distances(Q[rows[band]], C[Ind[band]], metric)
                dist[band] = exact
                keep[band] = exact <= eta
            rows, Ind, dist = rows[keep], Ind[keep], dist[keep]
            order = np.lexsort((dist, rows))
            indptr[start + 1 : stop + 1] = np.bincount(rows - start, minlength=stop - start)
            cols.append(Ind[order])
            dists.append(dist[order])
            if progress is not None:
                progress(stop, nq)
        np.cumsum(indptr, out=indptr)
        return Graph(
            indptr,
            np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64),
            np.concatenate(dists) if dists else np.zeros(0),
            self.size,
            float(eta),
        )


def neighbours(
    Q: np.ndarray,
    C: np.ndarray,
    eta: float,
    metric: str,
    *,
    index: str = "auto",
    block: int = BLOCK,
    progress: ProgressFn | None = None,
    seed: int = 0,
) -> Graph:
    """All pairs ``(i, j)`` with ``d(Q[i], C[j]) <= eta``, exactly.

    Parameters
    ----------
    Q : ndarray of float64, shape (nq, d)
        Query rows, already :func:`covering.metrics.prepare`-d.
    C : ndarray of float64, shape (nc, d)
        Candidate rows, prepared the same way.
    eta : float
        Radius in metric units (> 0).
    metric : {"l2", "linf", "cosine"}
    index : {"auto", "flat", "ivf"}
        ``"auto"``: exact flat search up to ``FLAT_MAX`` candidates, IVF above.
    block : int
        Query rows per FAISS call (bounds the temporary memory).
    progress : callable(done, total), optional

    Returns
    -------
    Graph
        CSR over ``nq`` rows and ``nc`` columns; within a row, edges sorted by distance.
    """
    ri = RangeIndex(C, metric, index=index, seed=seed)
    return ri.search(Q, eta, block=block, progress=progress)


def eta_graph(
    Z: np.ndarray,
    eta: float,
    metric: str,
    *,
    index: str = "auto",
    progress: ProgressFn | None = None,
    seed: int = 0,
) -> Graph:
    """The eta-neighbour graph of the rows of ``Z`` (float64 (n, d), prepared); self-loops kept."""
    g = neighbours(Z, Z, eta, metric, index=index, progress=progress, seed=seed)
    return _ensure_self_loops(g)


def _ensure_self_loops(g: Graph) -> Graph:
    """Every row must at least cover itself (an approximate index may miss a self match)."""
    n = g.n_rows
    rows = np.repeat(np.arange(n, dtype=np.int64), g.degrees())
    has_self = np.zeros(n, dtype=bool)
    has_self[rows[g.indices == rows]] = True
    if has_self.all():
        return g
    missing = np.flatnonzero(~has_self)
    rows = np.concatenate([rows, missing])
    cols = np.concatenate([g.indices, missing])
    dist = np.concatenate([g.dist, np.zeros(missing.shape[0])])
    order = np.lexsort((dist, rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return Graph(indptr, cols[order], dist[order], g.n_cols, g.eta)
