"""GPU eta-neighbour graphs: FAISS k-NN with a radius filter, growing k where a row saturates.

FAISS GPU indexes have no range search, so the eta-graph is built from k-nearest-neighbour
searches: a row whose ``k``-th neighbour is still within the (float32, slightly inflated)
radius may have more neighbours, and is searched again with ``2k`` until it is not saturated.
Rows still saturated at ``kmax`` (FAISS GPU's k limit) are finished with an exact CPU range
search. Candidates then go through the same exact decision as :mod:`covering.graph`
(:func:`covering.graph.exact_edges`): FAISS values far from the threshold are trusted within the
float32 error bound of :meth:`covering.metrics.FaissView.tolerance`, the thin band around it is
re-computed with the canonical float64 distance (:func:`covering.metrics.exact_distances`) on
the CPU. The result therefore equals :func:`covering.graph.eta_graph` (same edge set: the
canonical eta-graph).

The k-NN logic takes an *index factory*, so it runs (and is tested) on CPU with
``faiss.IndexFlat``; :func:`eta_graph_gpu` plugs in ``faiss.GpuIndexFlat``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import faiss
import numpy as np

from covering.graph.csr import Graph, ensure_self_loops
from covering.graph.exact import exact_edges, f32_above, to_float32
from covering.metrics import FaissView, check_metric, unit_scale

__all__ = [
    "IndexFactory",
    "cpu_factory",
    "eta_graph_gpu",
    "gpu_available",
    "gpu_factory",
    "knn_eta_graph",
]

log = logging.getLogger(__name__)

#: builds an empty FAISS index: (dim, faiss metric constant) -> index
IndexFactory = Callable[[int, int], faiss.Index]
ProgressFn = Callable[[int, int], None]

#: largest k FAISS GPU k-selection supports
GPU_KMAX = 2048
#: first k tried per row
K0 = 64
#: query rows per k-NN call
BLOCK = 8192
#: GPU: margin on the float32 error bound (different summation orders and GEMM kernels)
GPU_TOL_FACTOR = 16.0


def gpu_available() -> bool:
    """True when the installed FAISS sees at least one GPU."""
    get = getattr(faiss, "get_num_gpus", None)
    try:
        return bool(get and get() > 0)
    except Exception:  # pragma: no cover - broken CUDA installs
        return False


def cpu_factory(dim: int, metric: int) -> faiss.Index:
    """Exact CPU flat index (the reference for tests)."""
    return faiss.IndexFlat(dim, metric)


def gpu_factory(device: int = 0) -> IndexFactory:
    """A factory of ``faiss.GpuIndexFlat`` on ``device`` (needs FAISS built with GPU support)."""
    if not hasattr(faiss, "StandardGpuResources"):
        raise ValueError("this FAISS build has no GPU support (install covering[gpu])")
    res = faiss.StandardGpuResources()

    def make(dim: int, metric: int) -> faiss.Index:
        cfg = faiss.GpuIndexFlatConfig()
        cfg.device = device
        return faiss.GpuIndexFlat(res, dim, metric, cfg)

    return make


def _validate(Z: np.ndarray, eta: float, metric: str, k0: int, kmax: int | None) -> None:
    check_metric(metric)
    if Z.ndim != 2:
        raise ValueError(f"Z must be 2-D (n, d), got shape {Z.shape}")
    if not (eta > 0):
        raise ValueError(f"eta must be > 0, got {eta!r}")
    if k0 < 1 or (kmax is not None and kmax < 1):
        raise ValueError(f"k0 and kmax must be >= 1, got k0={k0}, kmax={kmax}")


def knn_eta_graph(
    Z: np.ndarray,
    eta: float,
    metric: str,
    *,
    index_factory: IndexFactory = cpu_factory,
    k0: int = K0,
    kmax: int | None = None,
    block: int = BLOCK,
    tol_factor: float = 1.0,
    progress: ProgressFn | None = None,
) -> Graph:
    """The exact eta-graph of the rows of ``Z`` from k-NN searches with growing k.

    Parameters
    ----------
    Z : ndarray of float64, shape (n, d)
        Rows already :func:`covering.metrics.prepare`-d for ``metric``.
    eta : float
        Radius in metric units.
    metric : {"l2", "linf", "cosine"}
    index_factory : callable(dim, faiss_metric) -> faiss.Index
        Builds the (empty) flat k-NN index: CPU ``faiss.IndexFlat`` or GPU ``GpuIndexFlat``.
    k0 : int
        First k; doubled for rows whose k-th neighbour is still within the radius.
    kmax : int, optional
        Largest k the index supports (GPU: 2048); rows saturated there are finished by an
        exact CPU range search. Default: no limit (up to n).
    block : int
        Query rows per k-NN call.
    tol_factor : float
        Multiplier (>= 1) on the float32 error bound of the band that is re-checked exactly.
    progress : callable(done, total), optional

    Returns
    -------
    Graph
        Self-loops included, rows sorted by distance; every edge exactly ``<= eta``.
    """
    _validate(Z, eta, metric, k0, kmax)
    n, dim = Z.shape
    view = FaissView.of(metric)
    fmetric = faiss.METRIC_Linf if view.faiss_metric == "linf" else faiss.METRIC_L2
    shift = Z.mean(axis=0) if n else np.zeros(dim)
    scale = unit_scale(Z, shift, metric)  # a power of two: float32 squares stay finite
    Z32 = to_float32(Z, shift, scale)
    index = index_factory(dim, fmetric)
    index.add(Z32)
    thr = view.to_faiss(eta / scale)
    tol_c = view.tolerance(Z32, dim)
    limit = n if kmax is None else min(n, kmax)
    fallback: faiss.Index | None = None
    indptr = np.zeros(n + 1, dtype=np.int64)
    cols: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    grown = 0
    for start in range(0, n, block):
        stop = min(n, start + block)
        q32 = Z32[start:stop]
        tol = max(1.0, tol_factor) * max(tol_c, view.tolerance(q32, dim))
        tol += view.margin(thr, dim)  # the canonical float64 distance's own rounding
        radius = f32_above(thr + tol)
        b = stop - start
        cand_rows: list[np.ndarray] = []
        cand_d: list[np.ndarray] = []
        cand_i: list[np.ndarray] = []
        pending = np.arange(b, dtype=np.int64)
        k = min(max(1, k0), limit)
        while pending.size:
            D, Ind = index.search(q32[pending], k)
            saturated = (k < n) & (D[:, -1] <= radius) & (Ind[:, -1] >= 0)
            done = ~saturated
            hit = (D[done] <= radius) & (Ind[done] >= 0)
            cand_rows.append(np.repeat(pending[done], hit.sum(axis=1)))
            cand_d.append(D[done][hit])
            cand_i.append(Ind[done][hit].astype(np.int64))
            pending = pending[saturated]
            if pending.size == 0:
                break
            if k >= limit:  # saturated at the index's k limit: exact CPU range search
                if fallback is None:
                    fallback = faiss.IndexFlat(dim, fmetric)
                    fallback.add(Z32)
                lims, Dr, Ir = fallback.range_search(q32[pending], float(radius))
                per_row = np.asarray(np.diff(np.asarray(lims, dtype=np.int64)), dtype=np.int64)
                cand_rows.append(np.repeat(pending, per_row))
                cand_d.append(Dr)
                cand_i.append(Ir.astype(np.int64))
                break
            grown += pending.size
            k = min(2 * k, limit)
        rows = np.concatenate(cand_rows)
        order = np.argsort(rows, kind="stable")
        counts, ind, dist = exact_edges(
            Z[start:stop],
            Z,
            rows[order],
            np.concatenate(cand_d)[order],
            np.concatenate(cand_i)[order],
            eta,
            thr,
            tol,
            view,
            metric,
            scale=scale,
        )
        indptr[start + 1 : stop + 1] = counts
        cols.append(ind)
        dists.append(dist)
        if progress is not None:
            progress(stop, n)
    log.debug("knn_eta_graph: %d row searches grew k", grown)
    np.cumsum(indptr, out=indptr)
    g = Graph(
        indptr,
        np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64),
        np.concatenate(dists) if dists else np.zeros(0),
        n,
        float(eta),
    )
    return ensure_self_loops(g)


def eta_graph_gpu(
    Z: np.ndarray,
    eta: float,
    metric: str,
    *,
    progress: ProgressFn | None = None,
    device: int = 0,
    k0: int = K0,
    block: int = BLOCK,
) -> Graph:
    """:func:`knn_eta_graph` on one GPU (``faiss.GpuIndexFlat``, k up to 2048).

    Parameters
    ----------
    Z : ndarray of float64, shape (n, d), prepared
    eta : float
    metric : {"l2", "linf", "cosine"}
    progress : callable(done, total), optional
    device : int
        CUDA device number.

    Raises
    ------
    ValueError
        FAISS sees no GPU.
    """
    get = getattr(faiss, "get_num_gpus", None)
    if get is None or get() == 0:
        raise ValueError("backend='gpu' but FAISS sees no GPU")
    return knn_eta_graph(
        Z,
        eta,
        metric,
        index_factory=gpu_factory(device),
        k0=k0,
        kmax=GPU_KMAX,
        block=block,
        tol_factor=GPU_TOL_FACTOR,
        progress=progress,
    )
