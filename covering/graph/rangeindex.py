"""Exact eta-range queries over a set of candidate rows: :class:`RangeIndex` and
:func:`neighbours`.

FAISS (a flat or an IVF index, :mod:`covering.graph.ivf`) proposes candidates in float32 with
a slightly inflated radius, in query blocks; :func:`covering.graph.exact.exact_edges` turns them
into the exact edges. Memory is O(n * average degree); no dense n x n matrix is ever formed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import faiss
import numpy as np

from covering.graph.csr import Graph
from covering.graph.exact import exact_edges, f32_above, to_float32
from covering.graph.ivf import IVF_MAX_SCAN, add_lists, empty_index, index_kind, probe_keys
from covering.metrics import FaissView, unit_scale

__all__ = ["BLOCK", "RangeIndex", "neighbours"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

#: default query block (rows per FAISS range-search call)
BLOCK = 4096


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """Concatenate ``parts`` into one new array of ``dtype`` (freeing them as it goes)."""
    out = np.empty(sum(p.shape[0] for p in parts), dtype=dtype)
    pos = 0
    while parts:
        p = parts.pop(0)
        out[pos : pos + p.shape[0]] = p
        pos += p.shape[0]
    return out


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
    scale : float, optional
        Power of two the centred rows are divided by before the cast (default: the one that
        brings ``C - shift`` to unit scale, :func:`covering.metrics.unit_scale`), so that
        FAISS's squares neither overflow nor vanish in float32.
    seed : int
        Seed of the IVF's k-means.
    eta_hint : float, optional
        The radius that will be searched: with ``index="auto"``, lets a cheap sample decide
        that neighbourhoods are too large for list pruning to pay (then flat, without training
        an IVF first).
    """

    def __init__(
        self,
        C: np.ndarray,
        metric: str,
        *,
        index: str = "auto",
        shift: np.ndarray | None = None,
        scale: float | None = None,
        seed: int = 0,
        eta_hint: float | None = None,
    ) -> None:
        self.metric = metric
        self.view = FaissView.of(metric)
        self.dim = int(C.shape[1])
        self.shift = (
            (C.mean(axis=0) if C.shape[0] else np.zeros(self.dim))
            if shift is None
            else np.asarray(shift, dtype=np.float64)
        )
        self.scale = unit_scale(C, self.shift, metric) if scale is None else float(scale)
        C32 = to_float32(C, self.shift, self.scale)
        self.index = empty_index(
            C32, self.view, index_kind(C, metric, index, eta_hint, seed), seed=seed
        )
        self._ivf: faiss.IndexIVF | None = (
            self.index if isinstance(self.index, faiss.IndexIVF) else None
        )
        self.kind = "flat" if self._ivf is None else "ivf"
        self.C = C
        self.tol = self.view.tolerance(C32, self.dim)
        self._radii: np.ndarray | None = None
        self._auto = index == "auto"
        self._checked = False
        if self._ivf is not None:
            self._radii = add_lists(self._ivf, C32, None)
            self._sizes = self._list_sizes()
        else:
            self.index.add(C32)

    @property
    def size(self) -> int:
        return int(self.C.shape[0])

    def add(self, C_more: np.ndarray) -> None:
        """Append candidate rows (prepared float64 (k, d))."""
        C32 = to_float32(C_more, self.shift, self.scale)
        if self._ivf is not None:
            self._radii = add_lists(self._ivf, C32, self._radii)
            self._sizes = self._list_sizes()
        else:
            self.index.add(C32)
        self.C = np.concatenate([self.C, C_more]) if self.C.shape[0] else C_more
        self.tol = max(self.tol, self.view.tolerance(C32, self.dim))

    def _list_sizes(self) -> np.ndarray:
        assert self._ivf is not None
        invlists = self._ivf.invlists
        assert invlists is not None
        return np.array([invlists.list_size(j) for j in range(self._ivf.nlist)], dtype=np.int64)

    def _to_flat(self) -> None:
        """Replace the IVF index by a flat one (pruning would not pay off)."""
        flat = faiss.IndexFlat(self.dim, faiss.METRIC_L2)
        flat.add(to_float32(self.C, self.shift, self.scale))
        self.index, self.kind, self._radii, self._ivf = flat, "flat", None, None

    def _range(
        self, q32: np.ndarray, radius: float, tol: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FAISS range search of ``q32`` (float32 (b, d)) within ``radius`` (FAISS units)."""
        ivf = self._ivf
        if ivf is None:
            return self.index.range_search(q32, radius)
        assert self._radii is not None
        slack = 4.0 * float(np.sqrt(tol)) + 1e-6 * float(np.sqrt(max(radius, 0.0)))
        keys = probe_keys(ivf, q32, radius, self._radii, slack)
        if self._auto and not self._checked:
            self._checked = True
            scanned = np.where(keys >= 0, self._sizes[np.maximum(keys, 0)], 0).sum(axis=1)
            frac = float(scanned.mean()) / max(1, self.size)
            log.debug("ivf: %d lists, queries scan %.1f%% of rows", ivf.nlist, 100 * frac)
            if frac > IVF_MAX_SCAN:
                self._to_flat()
                return self.index.range_search(q32, radius)
        ivf.nprobe = keys.shape[1]
        # the Python wrapper's signature (x, thresh, Iq, Dq), not the C one in faiss's stubs
        search = cast(Any, ivf).range_search_preassigned
        lims, D, Ind = search(q32, radius, keys, None)
        return lims, D, Ind

    def search(
        self,
        Q: np.ndarray,
        eta: float,
        *,
        block: int = BLOCK,
        progress: ProgressFn | None = None,
        sort: bool = True,
    ) -> Graph:
        """Exact graph of the pairs ``(i, j)`` with ``d(Q[i], C[j]) <= eta``.

        Parameters
        ----------
        Q : ndarray of float64, shape (nq, d), prepared
        eta : float
        block : int
            Query rows per FAISS call.
        progress : callable(done, total), optional
        sort : bool
            Sort each row's edges by distance (nearest first); ``False`` skips that sort
            (the edges of a row then come in FAISS's order).
        """
        view, metric, C = self.view, self.metric, self.C
        nq = Q.shape[0]
        thr = view.to_faiss(eta / self.scale)
        indptr = np.zeros(nq + 1, dtype=np.int64)
        cols: list[np.ndarray] = []
        dists: list[np.ndarray] = []
        for start in range(0, nq, block):
            stop = min(nq, start + block)
            q32 = to_float32(Q[start:stop], self.shift, self.scale)
            # float32 error bound, plus the canonical float64 distance's own rounding
            tol = max(self.tol, view.tolerance(q32, self.dim)) + view.margin(thr, self.dim)
            radius = float(f32_above(thr + tol))
            if self.size == 0:
                lims, D, Ind = np.zeros(stop - start + 1, np.int64), np.zeros(0), np.zeros(0)
            else:
                lims, D, Ind = self._range(q32, radius, tol)
            per_row = np.asarray(np.diff(np.asarray(lims, dtype=np.int64)), dtype=np.int64)
            rows = np.repeat(np.arange(stop - start, dtype=np.int64), per_row)
            counts, ind, dist = exact_edges(
                Q[start:stop],
                C,
                rows,
                D,
                Ind,
                eta,
                thr,
                tol,
                view,
                metric,
                sort=sort,
                scale=self.scale,
            )
            indptr[start + 1 : stop + 1] = counts
            # int32 while accumulating: the final concatenation is the memory peak
            cols.append(ind.astype(np.int32) if self.size < 2**31 else ind)
            dists.append(dist)
            del lims, D, Ind, rows, ind, dist
            if progress is not None:
                progress(stop, nq)
        np.cumsum(indptr, out=indptr)
        return Graph(
            indptr, _concat(cols, np.int64), _concat(dists, np.float64), self.size, float(eta)
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
    sort: bool = True,
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
    seed : int
        Seed of the IVF's k-means.
    sort : bool
        ``False``: skip sorting each row's edges by distance.

    Returns
    -------
    Graph
        CSR over ``nq`` rows and ``nc`` columns; within a row, edges sorted by distance (if
        ``sort``).
    """
    ri = RangeIndex(C, metric, index=index, seed=seed, eta_hint=eta)
    return ri.search(Q, eta, block=block, progress=progress, sort=sort)
