"""Sparse eta-neighbour graphs, built with FAISS in blocks and re-checked exactly.

A :class:`Graph` is a CSR adjacency: row ``i`` (a point to cover) lists the columns ``j`` (the
candidate centres) with ``d(Q[i], C[j]) <= eta``. FAISS proposes candidates in float32 with a
slightly inflated radius; every edge whose FAISS value lies within the float32 error bound of the
threshold is re-computed with the canonical float64 distance
(:func:`covering.metrics.exact_distances`), and FAISS's value decides the others only where it is
provably on the same side as the canonical one, so the edge set is exactly the canonical
eta-graph: ``(i, j)`` is an edge iff ``within(exact_distances(Q[i], C[j]), eta)``.

Large candidate sets (``index="ivf"``, or ``"auto"`` above ``FLAT_MAX`` rows) use an IVF index
whose lists are chosen per query by the triangle inequality (a list is scanned only if its ball
can reach the query's eta-ball), so it misses no pair up to float32 slack; a miss could only cost
cover size, never validity. ``"auto"`` falls back to the flat (BLAS) index when a sample shows
that pruning cannot pay (wide neighbourhoods, e.g. MNIST at eta = 6). Memory is
O(n * average degree); no dense n x n matrix is ever formed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import faiss
import numpy as np

from covering.metrics import FaissView, exact_distances, pow2_scale, unit_scale, within

__all__ = [
    "Graph",
    "RangeIndex",
    "ensure_self_loops",
    "eta_graph",
    "exact_edges",
    "f32_above",
    "f32_below",
    "gpu_available",
    "make_index",
    "neighbours",
    "to_float32",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

#: default query block (rows per FAISS range-search call)
BLOCK = 4096
#: ``index="auto"``: classes up to this many rows use the flat index; larger ones an IVF index
#: with exact (triangle-inequality) list pruning, unless it would scan more than
#: ``IVF_MAX_SCAN`` of the rows per query (then flat BLAS brute force is faster)
FLAT_MAX = 4_000
#: IVF: rows per inverted list (nlist = m // IVF_LIST_SIZE). Training, assignment and list
#: selection cost O(m * nlist * d), the scans O(m * lists reached * IVF_LIST_SIZE * d): on a
#: 100,000-row mixture class 256 was 15% faster than 128 in all and 512 twice as slow
IVF_LIST_SIZE = 256
#: IVF: k-means iterations and training rows per list (the lists only need to be compact)
IVF_KMEANS_ITERS = 4
IVF_TRAIN_PER_LIST = 20
#: IVF: largest fraction of the rows a query may scan before flat search is preferred
IVF_MAX_SCAN = 0.3
#: ``index="auto"``: flat without training an IVF when a sample has more than
#: ``IVF_MAX_SCAN`` of the rows within ``DENSE_REACH * eta`` of a row (a list of radius ~eta
#: within reach of a query; e.g. MNIST at eta = 6: ~100%, the synthetic mixture: ~1-10%)
DENSE_REACH = 3.0


@dataclass(frozen=True)
class Graph:
    """CSR adjacency of an eta-neighbour graph.

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_rows + 1,)
    indices : ndarray of int64, shape (E,)
        Column (candidate) of each edge (int32 in a ``transpose(dist=False)``). Within a row,
        :meth:`RangeIndex.search` sorts edges by distance (unless ``sort=False``, as in
        :func:`eta_graph`); ``self_graph`` by column.
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
        counts = np.bincount(rows, minlength=self.n_rows)
        indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return Graph(indptr, self.indices[keep], self.dist[keep], self.n_cols, float(eta))


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """Concatenate ``parts`` into one new array of ``dtype`` (freeing them as it goes)."""
    out = np.empty(sum(p.shape[0] for p in parts), dtype=dtype)
    pos = 0
    while parts:
        p = parts.pop(0)
        out[pos : pos + p.shape[0]] = p
        pos += p.shape[0]
    return out


def _key_scale(eta: float) -> float:
    """Upper bound on edge distances of a graph of radius ``eta`` (for sort keys)."""
    return float(eta) * (1.0 + 1e-6) + 1e-300


def gpu_available() -> bool:
    """True when the installed FAISS sees at least one GPU."""
    get = getattr(faiss, "get_num_gpus", None)
    try:
        return bool(get and get() > 0)
    except Exception:  # pragma: no cover - broken CUDA installs
        return False


def make_index(C32: np.ndarray, view: FaissView, kind: str, *, seed: int = 0) -> faiss.Index:
    """A FAISS index over the float32 rows ``C32`` (shape (m, d)).

    ``kind`` is ``"flat"`` (exact brute force) or ``"ivf"`` (IVF-Flat with about
    ``IVF_LIST_SIZE`` rows per list). The IVF index is only a container here: :class:`RangeIndex`
    chooses the lists to scan per query with the triangle inequality, so its range searches miss
    no pair (see :func:`_probe_keys`); its candidate distances are flat float32 distances, so the
    same error bound applies.
    """
    index = _empty_index(C32, view, kind, seed=seed)
    if isinstance(index, faiss.IndexIVF):
        _add_ivf(index, C32, None)
    else:
        index.add(C32)
    return index


def _empty_index(C32: np.ndarray, view: FaissView, kind: str, *, seed: int) -> faiss.Index:
    """A flat index, or an IVF index trained on a sample of ``C32`` (no rows added yet)."""
    d = C32.shape[1]
    metric = faiss.METRIC_Linf if view.faiss_metric == "linf" else faiss.METRIC_L2
    m = C32.shape[0]
    if kind == "flat" or m < 2 * IVF_LIST_SIZE or view.faiss_metric == "linf":
        return faiss.IndexFlat(d, metric)
    nlist = max(2, m // IVF_LIST_SIZE)
    quantizer = faiss.IndexFlat(d, metric)
    ivf = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
    ivf.cp.seed = seed
    ivf.cp.niter = IVF_KMEANS_ITERS
    ivf.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
    ivf.cp.min_points_per_centroid = 1  # a small sample is deliberate: no FAISS warning
    rng = np.random.default_rng(seed)
    size = min(m, IVF_TRAIN_PER_LIST * nlist)
    train = C32[np.sort(rng.choice(m, size=size, replace=False))] if size < m else C32
    ivf.train(np.ascontiguousarray(train))
    return ivf


def _add_ivf(ivf: faiss.IndexIVF, C32: np.ndarray, radii: np.ndarray | None) -> np.ndarray:
    """Add the rows ``C32`` (float32 (m, d)) to their nearest lists.

    Returns each list's radius (float64 (nlist,)): the largest L2 distance, in FAISS's float32
    arithmetic, from its centroid to a row assigned to it, merged with the earlier ``radii``.
    One quantizer search per row serves both the assignment and the radii."""
    from faiss.contrib.ivf_tools import add_preassigned

    out = np.zeros(int(ivf.nlist)) if radii is None else radii.copy()
    step = 1 << 16
    for s in range(0, C32.shape[0], step):
        block = np.ascontiguousarray(C32[s : s + step])
        D, Ind = ivf.quantizer.search(block, 1)
        lists = np.ascontiguousarray(Ind[:, 0], dtype=np.int64)
        ids = np.arange(ivf.ntotal, ivf.ntotal + block.shape[0], dtype=np.int64)
        add_preassigned(ivf, block, lists, ids)
        np.maximum.at(out, lists, np.sqrt(np.maximum(D[:, 0].astype(np.float64), 0.0)))
    return out


def _probe_keys(
    ivf: faiss.IndexIVF, q32: np.ndarray, radius: float, radii: np.ndarray, slack: float
) -> np.ndarray:
    """Lists each query must scan so that no point within ``radius`` is missed.

    A list ``j`` with centroid ``c_j`` and radius ``r_j`` can hold a point ``x`` with
    ``|q - x| <= R`` only if ``|q - c_j| <= R + r_j`` (triangle inequality); ``slack`` absorbs
    float32 rounding. Returns int64 (nq, width): the lists to scan, padded with -1 (skipped by
    FAISS).

    Parameters
    ----------
    ivf : faiss.IndexIVF
    q32 : ndarray of float32, shape (nq, d)
    radius : float
        Squared L2 radius (FAISS units).
    radii : ndarray of float64, shape (nlist,)
    slack : float
        L2 units.
    """
    nlist = int(ivf.nlist)
    cent = ivf.quantizer.reconstruct_n(0, nlist)
    qn = np.einsum("ij,ij->i", q32, q32, dtype=np.float64)
    cn = np.einsum("ij,ij->i", cent, cent, dtype=np.float64)
    reach = np.sqrt(max(radius, 0.0)) + radii + slack
    # |q - c|^2 = qn + cn - 2 q.c <= reach^2  <=>  q.c >= (qn + cn - reach^2) / 2
    ok = (q32 @ cent.T) >= 0.5 * (qn[:, None] + (cn - reach * reach)[None, :])
    r, c = np.nonzero(ok)  # row-major: rows ascending, lists ascending within a row
    counts = np.bincount(r, minlength=q32.shape[0])
    keys = np.full((q32.shape[0], max(1, int(counts.max(initial=0)))), -1, dtype=np.int64)
    keys[r, np.arange(r.shape[0]) - (np.cumsum(counts) - counts)[r]] = c
    return keys


_F32_MAX = float(np.finfo(np.float32).max)


def f32_above(x: float) -> np.float32:
    """The float32 just above ``float32(x)``; ``inf`` when that is past float32's range.

    Same as ``np.nextafter(np.float32(x), inf)`` but without numpy's overflow warnings when ``x``
    (e.g. a threshold for a huge eta) does not fit a float32: every float32 value is below it.
    """
    if x < -_F32_MAX:
        return np.float32(-_F32_MAX)
    f = np.float32(x) if x < _F32_MAX else np.float32(np.inf)
    if f >= np.float32(_F32_MAX):
        return np.float32(np.inf)
    return np.nextafter(f, np.float32(np.inf))


def f32_below(x: float) -> np.float32:
    """The float32 just below ``float32(x)``, clamped to float32's range (see :func:`f32_above`).

    For ``x`` past the largest float32 this is that largest float32, which every finite float32
    value is at most, so ``f32_below(x) >= D`` still means ``D < x`` without an overflow.
    """
    if x > _F32_MAX:
        return np.float32(_F32_MAX)
    f = np.float32(x) if x > -_F32_MAX else np.float32(-np.inf)
    if f <= np.float32(-_F32_MAX):
        return np.float32(-np.inf)
    return np.nextafter(f, np.float32(-np.inf))


def to_float32(Z: np.ndarray, shift: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``(Z - shift) / scale`` in float32 (``scale`` a power of two: the division is exact)."""
    D = Z - shift
    if scale != 1.0:
        D /= scale
    return np.ascontiguousarray(D, dtype=np.float32)


def exact_edges(
    Q: np.ndarray,
    C: np.ndarray,
    rows: np.ndarray,
    D: np.ndarray,
    Ind: np.ndarray,
    eta: float,
    thr: float,
    tol: float,
    view: FaissView,
    metric: str,
    *,
    sort: bool = True,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn FAISS candidates of a block of queries into exact edges, grouped by row.

    Every candidate must have FAISS value ``<= thr + tol``. Those below ``thr - tol`` are
    certainly edges (``tol`` bounds FAISS's float32 error and the canonical distance's own
    rounding, :meth:`FaissView.margin`); the rest, a thin band, are decided by
    :func:`covering.metrics.within` on the canonical distance
    (:func:`covering.metrics.exact_distances`).

    Parameters
    ----------
    Q : ndarray of float64, shape (b, d), the block's (prepared) query rows
    C : ndarray of float64, shape (nc, d), the candidate rows
    rows : ndarray of int64, shape (e,), block-local query row of each candidate, ascending
    D : ndarray of float32, shape (e,), FAISS values
    Ind : ndarray of int, shape (e,), candidate columns
    eta, thr, tol : float
        Radius (metric units), threshold and error bound (FAISS units: of the rows divided by
        ``scale``).
    view : FaissView
    metric : str
    sort : bool
        Sort each row's edges by distance (otherwise FAISS's order within the row).
    scale : float
        The power of two FAISS's rows were divided by (distances are multiplied back).

    Returns
    -------
    counts : ndarray of int64, shape (b,), edges per row
    cols : ndarray of int64, shape (E,), columns (by distance within each row if ``sort``)
    dist : ndarray of float64, shape (E,)
    """
    Ind = np.asarray(Ind, dtype=np.int64)
    D = np.asarray(D, dtype=np.float32)
    keep = f32_below(thr - tol) >= D
    band = np.flatnonzero(~keep)
    dist = view.from_faiss(D) * scale
    if band.size:
        exact = exact_distances(Q[rows[band]], C[Ind[band]], metric)
        dist[band] = exact
        keep[band] = within(exact, eta)
        rows, Ind, dist = rows[keep], Ind[keep], dist[keep]
    counts = np.bincount(rows, minlength=Q.shape[0]).astype(np.int64)
    if not sort:  # rows come ascending from FAISS
        return counts, Ind, dist
    # one float64 key (row, then distance): faster than np.lexsort
    order = np.argsort(rows + dist * (0.5 / _key_scale(eta)))
    return counts, Ind[order], dist[order]


def _dense(C: np.ndarray, eta: float, metric: str, seed: int) -> bool:
    """True when a sample says IVF list pruning would scan most of ``C`` (see DENSE_REACH)."""
    rng = np.random.default_rng(seed)
    m = C.shape[0]
    q = C[rng.choice(m, size=min(m, 64), replace=False)]
    c = C[rng.choice(m, size=min(m, 2048), replace=False)]
    s = pow2_scale(max(float(np.abs(q).max()), float(np.abs(c).max())))
    q, c = q / s, c / s  # unit scale: the squares below neither overflow nor vanish
    # L2 distances of the sample (cosine: between unit vectors; linf: never pruned by IVF)
    d2 = (q * q).sum(axis=1)[:, None] + (c * c).sum(axis=1)[None, :] - 2.0 * (q @ c.T)
    r = (float(np.sqrt(2.0 * eta)) if metric == "cosine" else float(eta)) / s
    frac = float(np.mean(d2 <= (DENSE_REACH * r) ** 2))
    log.debug("auto index: a sample has %.1f%% of rows within %g eta", 100 * frac, DENSE_REACH)
    return frac > IVF_MAX_SCAN


def _index_kind(C: np.ndarray, metric: str, index: str, eta: float | None, seed: int) -> str:
    """``"flat"`` or ``"ivf"`` for ``index`` over the rows ``C`` (``"auto"``: flat up to
    ``FLAT_MAX`` rows, for L-inf, or when a sample at radius ``eta`` says pruning cannot pay)."""
    if index != "auto":
        return index
    if C.shape[0] <= FLAT_MAX or FaissView.of(metric).faiss_metric == "linf":
        return "flat"
    return "flat" if eta is not None and _dense(C, eta, metric, seed) else "ivf"


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
        self.index = _empty_index(
            C32, self.view, _index_kind(C, metric, index, eta_hint, seed), seed=seed
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
            self._radii = _add_ivf(self._ivf, C32, None)
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
            self._radii = _add_ivf(self._ivf, C32, self._radii)
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
        keys = _probe_keys(ivf, q32, radius, self._radii, slack)
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


def eta_graph(
    Z: np.ndarray,
    eta: float,
    metric: str,
    *,
    index: str = "auto",
    progress: ProgressFn | None = None,
    seed: int = 0,
) -> Graph:
    """The eta-graph of the rows of ``Z`` (float64 (n, d), prepared); self-loops kept.

    Where brute force is the right index (``index="flat"``, or ``"auto"`` on a small or dense
    set) and the metric is L2 or cosine, the symmetric upper-triangle search of
    :func:`covering.selfjoin.self_graph` does half the work (rows then list their edges by
    column); otherwise :func:`neighbours` (``sort=False``: within a row, FAISS's order).
    """
    if (
        FaissView.of(metric).faiss_metric == "l2"
        and _index_kind(Z, metric, index, eta, seed) == "flat"
    ):
        from covering.selfjoin import self_graph

        return self_graph(Z, eta, metric, progress=progress)
    g = neighbours(Z, Z, eta, metric, index=index, progress=progress, seed=seed, sort=False)
    return ensure_self_loops(g)


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
    order = np.lexsort((dist, rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return Graph(indptr, cols[order], dist[order], g.n_cols, g.eta)
