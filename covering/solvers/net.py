"""One-pass streaming cover (an eta-net): a row becomes a centre when no centre lies within eta.

Rows arrive in blocks; each block is range-searched against the centres so far (FAISS, exact
re-check), covered rows join their nearest centre, and the uncovered rest is scanned in order
against the block's own eta-graph. Centres are pairwise more than eta apart, so the number of
centres within eta of any row stays small and the work is near-linear in n.
"""

from __future__ import annotations

import numpy as np

from covering.graph import BLOCK, Graph, RangeIndex, neighbours
from covering.metrics import unit_scale

__all__ = ["Net", "net_cover"]


def _first_per_row(g: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows with an edge, their nearest column, its distance); rows are sorted by distance."""
    has = g.degrees() > 0
    rows = np.flatnonzero(has)
    first = g.indptr[:-1][has]
    return rows, g.indices[first], g.dist[first]


class Net:
    """Incremental eta-net over prepared float64 rows.

    Parameters
    ----------
    dim : int
    eta : float
    metric : {"l2", "linf", "cosine"}
    shift : ndarray of float64, shape (dim,), optional
        Translation used for the float32 FAISS view (e.g. the first block's mean).
    """

    def __init__(
        self, dim: int, eta: float, metric: str, *, shift: np.ndarray | None = None
    ) -> None:
        self.eta = float(eta)
        self.metric = metric
        self.dim = dim
        self._shift = shift
        self._index: RangeIndex | None = None
        self.centre_ids: list[int] = []

    @property
    def n_centres(self) -> int:
        return len(self.centre_ids)

    def add(self, Z: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stream rows in.

        Parameters
        ----------
        Z : ndarray of float64, shape (b, dim), prepared
        ids : ndarray of int64, shape (b,)
            Caller's ids of these rows (e.g. global row numbers).

        Returns
        -------
        centre : ndarray of int64, shape (b,)
            Id (from ``ids`` of this or an earlier call) of each row's centre.
        dist : ndarray of float64, shape (b,)
            Approximate distance to it (exactly ``<= eta``; exact values come from verify).
        """
        b = Z.shape[0]
        centre = np.full(b, -1, dtype=np.int64)
        dist = np.zeros(b)
        if b == 0:
            return centre, dist
        if self._index is None:
            shift = Z.mean(axis=0) if self._shift is None else self._shift
            self._index = RangeIndex(
                Z[:0],
                self.metric,
                index="flat",
                shift=shift,
                scale=unit_scale(Z, shift, self.metric),
            )
        known = np.asarray(self.centre_ids, dtype=np.int64)
        for start in range(0, b, BLOCK):
            stop = min(b, start + BLOCK)
            Zb = Z[start:stop]
            if self._index.size:
                g = self._index.search(Zb, self.eta)
                rows, col, d = _first_per_row(g)
                centre[start + rows] = known[col]
                dist[start + rows] = d
            todo = np.flatnonzero(centre[start:stop] < 0)
            if todo.size:
                new = self._scan(Zb[todo])
                sub = neighbours(Zb[todo], Zb[todo][new], self.eta, self.metric, index="flat")
                rows, col, d = _first_per_row(sub)
                centre[start + todo[rows]] = ids[start + todo[new[col]]]
                dist[start + todo[rows]] = d
                self._index.add(Zb[todo][new])
                self.centre_ids.extend(int(i) for i in ids[start + todo[new]])
                known = np.asarray(self.centre_ids, dtype=np.int64)
        return centre, dist

    def extend_centres(self, Z: np.ndarray, ids: np.ndarray) -> None:
        """Register existing centres (prepared rows ``Z``, ids ``ids``) without any scan."""
        if Z.shape[0] == 0:
            return
        if self._index is None:
            shift = Z.mean(axis=0) if self._shift is None else self._shift
            self._index = RangeIndex(Z, self.metric, index="flat", shift=shift)
        else:
            self._index.add(Z)
        self.centre_ids.extend(int(i) for i in ids)

    def _scan(self, U: np.ndarray) -> np.ndarray:
        """Sequential net over rows ``U``: positions that become centres, in order."""
        g = neighbours(U, U, self.eta, self.metric, index="flat")
        covered = np.zeros(U.shape[0], dtype=bool)
        chosen: list[int] = []
        for i in range(U.shape[0]):
            if not covered[i]:
                chosen.append(i)
                covered[g.indices[g.indptr[i] : g.indptr[i + 1]]] = True
        return np.asarray(chosen, dtype=np.int64)


def net_cover(Z: np.ndarray, eta: float, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """One-pass net of the rows of ``Z`` (prepared float64 (n, d)).

    Returns
    -------
    centres : ndarray of int64, shape (m,), sorted row numbers
    centre_of : ndarray of int64, shape (n,), row number of each row's centre
    """
    net = Net(Z.shape[1], eta, metric)
    centre_of, _ = net.add(Z, np.arange(Z.shape[0], dtype=np.int64))
    return np.sort(np.asarray(net.centre_ids, dtype=np.int64)), centre_of
