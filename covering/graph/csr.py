"""The CSR eta-neighbour graph (:class:`Graph`) and the ways to build one from edge lists.

A leaf module: it knows nothing of FAISS, of the metrics or of how the edges were found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Graph", "ensure_self_loops", "mirror_upper"]


@dataclass(frozen=True)
class Graph:
    """CSR adjacency of an eta-neighbour graph.

    Row ``i`` (a point to cover) lists the columns ``j`` (the candidate centres) with
    ``d(Q[i], C[j]) <= eta``.

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_rows + 1,)
    indices : ndarray of int64, shape (E,)
        Column (candidate) of each edge (int32 in a ``transpose(dist=False)``). Within a row,
        :meth:`covering.graph.RangeIndex.search` sorts edges by distance (unless
        ``sort=False``, as in :func:`covering.graph.eta_graph`); ``self_graph`` by column.
    dist : ndarray of float64, shape (E,)
        Distance of each edge in metric units: exact for edges near the threshold, FAISS's
        float32 value otherwise (error below ``tol``); shape (0,) in a
        ``transpose(dist=False)``.
    n_cols : int
    eta : float
        Radius of the graph: every edge has exact distance ``<= eta``.
    symmetric : bool
        Rows and columns are the same points and ``(i, j)`` is an edge iff ``(j, i)`` is (a
        graph of a set with itself): :meth:`transpose` returns the graph itself.
    """

    indptr: np.ndarray
    indices: np.ndarray
    dist: np.ndarray
    n_cols: int
    eta: float
    symmetric: bool = False

    @classmethod
    def from_edges(
        cls,
        rows: np.ndarray,
        cols: np.ndarray,
        dist: np.ndarray,
        n_rows: int,
        n_cols: int,
        eta: float,
        *,
        sort: bool = True,
    ) -> Graph:
        """The graph of the edges ``(rows[e], cols[e])`` with distances ``dist[e]``.

        Parameters
        ----------
        rows, cols : ndarray of int, shape (E,)
        dist : ndarray of float64, shape (E,)
        n_rows, n_cols : int
        eta : float
        sort : bool
            Order the edges by row, then by distance (stable: ties keep their order).
            ``False``: ``rows`` must already be ascending; the edges keep their order.
        """
        if sort:
            order = np.lexsort((dist, rows))
            cols, dist = cols[order], dist[order]
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return cls(indptr, cols, dist, n_cols, eta)

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

    def transpose(self, *, dist: bool = True) -> Graph:
        """The graph with rows and columns swapped (CSR of the transpose).

        O(E) (a counting sort by column, SciPy's CSR -> CSC). Within a row of the transpose the
        edges come in increasing column order (the original rows), not sorted by distance.

        Parameters
        ----------
        dist : bool
            ``False``: skip the distances (the result's ``dist`` is empty, shape (0,)) and keep
            int32 ``indices`` when they fit. Set-cover solvers only need the membership, and
            this halves the transpose's memory. A ``symmetric`` graph is returned as is.
        """
        import scipy.sparse as sp

        if self.symmetric:
            return self
        if self.n_edges == 0:
            return Graph(
                np.zeros(self.n_cols + 1, dtype=np.int64),
                self.indices[:0],
                self.dist[:0],
                self.n_rows,
                self.eta,
            )
        data = self.dist if dist else np.ones(self.n_edges, dtype=bool)
        m = sp.csr_matrix((data, self.indices, self.indptr), shape=(self.n_rows, self.n_cols))
        t = m.tocsc()
        del m, data
        idx = (
            t.indices
            if not dist and t.indices.dtype == np.int32
            else t.indices.astype(np.int64, copy=False)
        )
        return Graph(
            t.indptr.astype(np.int64, copy=False),
            idx,
            np.asarray(t.data, dtype=np.float64) if dist else np.zeros(0),
            self.n_rows,
            self.eta,
        )

    def restrict(self, eta: float, keep: np.ndarray) -> Graph:
        """Sub-graph of the edges flagged by ``keep`` (bool (E,)) at a smaller radius ``eta``."""
        rows = np.repeat(np.arange(self.n_rows, dtype=np.int64), self.degrees())[keep]
        return Graph.from_edges(
            rows,
            self.indices[keep],
            self.dist[keep],
            self.n_rows,
            self.n_cols,
            float(eta),
            sort=False,
        )


def ensure_self_loops(g: Graph) -> Graph:
    """Every row must at least cover itself (an approximate index may miss a self match)."""
    n = g.n_rows
    rows = np.repeat(np.arange(n, dtype=np.int32 if n < 2**31 else np.int64), g.degrees())
    has_self = np.zeros(n, dtype=bool)
    has_self[rows[g.indices == rows]] = True
    if has_self.all():
        return g
    missing = np.flatnonzero(~has_self)
    rows = np.concatenate([rows.astype(np.int64), missing])
    cols = np.concatenate([g.indices, missing])
    dist = np.concatenate([g.dist, np.zeros(missing.shape[0])])
    return Graph.from_edges(rows, cols, dist, n, g.n_cols, g.eta)


def mirror_upper(m: int, rows: np.ndarray, cols: np.ndarray, dist: np.ndarray, eta: float) -> Graph:
    """The symmetric graph over ``m`` points of its strict upper-triangle edges.

    CSR of the edges ``(rows, cols, dist)`` (``rows < cols``, rows ascending), their mirror
    images and the diagonal (distance 0): row ``r`` lists its lower neighbours, ``r``, then its
    upper ones. The result is ``symmetric`` (its own transpose).

    Parameters
    ----------
    m : int
    rows, cols : ndarray of int, shape (E,)
    dist : ndarray of float64, shape (E,)
    eta : float
    """
    import scipy.sparse as sp

    cnt_up = np.bincount(rows, minlength=m).astype(np.int64)
    up_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(cnt_up, out=up_ptr[1:])
    upper = sp.csr_matrix((dist, cols, up_ptr), shape=(m, m))
    lower = upper.tocsc()  # column j of the upper part = the lower neighbours of row j
    del upper, rows
    cnt_low = np.diff(lower.indptr).astype(np.int64)
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(cnt_low + 1 + cnt_up, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    out_dist = np.empty(indices.shape[0], dtype=np.float64)
    start = indptr[:-1]
    pos = np.arange(lower.indices.shape[0], dtype=np.int64) + np.repeat(
        start - lower.indptr[:-1], cnt_low
    )
    indices[pos], out_dist[pos] = lower.indices, lower.data
    del lower
    diag = start + cnt_low
    indices[diag], out_dist[diag] = np.arange(m), 0.0
    pos = np.arange(cols.shape[0], dtype=np.int64) + np.repeat(diag + 1 - up_ptr[:-1], cnt_up)
    indices[pos], out_dist[pos] = cols, dist
    return Graph(indptr, indices, out_dist, m, float(eta), symmetric=True)
