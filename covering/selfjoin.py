"""The eta-graph of a set of rows with itself, computed on the upper triangle only.

``d(x_i, x_j) = d(x_j, x_i)``, so each pair needs deciding once: row block ``[s, e)`` is
range-searched (``faiss.range_search_L2sqr``, FAISS's BLAS brute force) against rows ``[s, m)``
only, which halves the work of a flat self range search. Every kept pair is then mirrored.

Exactness is that of :class:`covering.graph.RangeIndex`: FAISS's float32 values within the
proven error bound of the threshold (plus the canonical distance's own rounding,
:meth:`covering.metrics.FaissView.margin`) are re-decided by :func:`covering.metrics.within` on
the canonical float64 distance of the full rows; outside that band FAISS's value is provably on
the same side, so the graph is exactly the canonical eta-graph.
Columns that are constant within the rows add exactly zero to every pairwise distance and are
dropped from the float32 copy FAISS sees (MNIST digits: 10-40% of the pixels per class).

L2 and cosine only (FAISS has no L-inf brute-force range search without an index).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import faiss
import numpy as np

from covering.graph.csr import Graph, mirror_upper
from covering.graph.exact import f32_above, f32_below
from covering.metrics import FaissView, exact_distances, span_scale, within

__all__ = ["self_graph"]

log = logging.getLogger(__name__)

#: rows per FAISS call: pairs inside a block are computed twice (B / m extra work)
BLOCK = 2048


def _float32_view(
    Z: np.ndarray, *, scaled: bool = True, chunk: int = 1024
) -> tuple[np.ndarray, float]:
    """Centred float32 copy of ``Z`` (float64 (m, d)) without its constant columns, (m, d').

    With ``scaled``, divided by a power of two ``scale`` (returned; else 1.0) that brings it
    to unit scale (exact; FAISS's float32 squares then neither overflow nor vanish).

    Built ``chunk`` rows at a time, so the float64 temporaries stay in cache."""
    hi, lo = Z.max(axis=0), Z.min(axis=0)
    varying = np.flatnonzero(hi != lo)
    if varying.size == 0:  # all rows equal: one zero column keeps FAISS's shapes valid
        return np.zeros((Z.shape[0], 1), dtype=np.float32), 1.0
    mean = Z.mean(axis=0)[varying]
    scale = span_scale(hi[varying], lo[varying], mean) if scaled else 1.0
    out = np.empty((Z.shape[0], varying.size), dtype=np.float32)
    for s in range(0, Z.shape[0], chunk):
        out[s : s + chunk] = (Z[s : s + chunk, varying] - mean) / scale
    return out, scale


def _range_block(
    Z32: np.ndarray, s: int, e: int, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``s <= i < e``, ``j >= s``, with FAISS value ``< radius``.

    Returns (lims int64 (e-s+1,), FAISS values float32, columns int64 (absolute))."""
    nx, ny, d = e - s, Z32.shape[0] - s, Z32.shape[1]
    res = faiss.RangeSearchResult(nx)
    faiss.range_search_L2sqr(
        faiss.swig_ptr(Z32[s:e]), faiss.swig_ptr(Z32[s:]), d, nx, ny, float(radius), res
    )
    lims = faiss.rev_swig_ptr(res.lims, nx + 1).astype(np.int64)
    total = int(lims[-1])
    D = faiss.rev_swig_ptr(res.distances, total).copy() if total else np.zeros(0, np.float32)
    ind = faiss.rev_swig_ptr(res.labels, total).astype(np.int64) if total else np.zeros(0, np.int64)
    return lims, D, ind + s


def self_graph(
    Z: np.ndarray,
    eta: float,
    metric: str,
    *,
    block: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> Graph:
    """The exact eta-graph of the rows of ``Z`` with themselves (self-loops included).

    Parameters
    ----------
    Z : ndarray of float64, shape (m, d)
        Rows prepared for the metric (:func:`covering.metrics.prepare`).
    eta : float
        Radius in metric units (> 0).
    metric : {"l2", "cosine"}
    block : int
        Query rows per FAISS call.
    progress : callable(done, total), optional

    Returns
    -------
    Graph
        Symmetric CSR over ``m`` rows and columns; within a row, edges in increasing column
        order (not by distance); ``symmetric`` (its transpose is itself).
    """
    view = FaissView.of(metric)
    if view.faiss_metric != "l2":
        raise ValueError(f"self_graph supports l2 and cosine, not {metric!r}")
    m = Z.shape[0]
    Z32, scale = _float32_view(Z, scaled=metric == "l2")  # cosine: unit rows already
    dim = Z32.shape[1]
    sq = np.einsum("ij,ij->i", Z32, Z32, dtype=np.float64)
    top = np.array(sq.max())
    thr = view.to_faiss(eta / scale)
    # the canonical float64 distance's own rounding (computed on all Z.shape[1] columns)
    margin = view.margin(thr, Z.shape[1])
    tol = float(view.pair_tolerance(top, top, dim)) + margin  # = view.tolerance(Z32, dim) + ...
    radius = float(f32_above(thr + tol))
    sure = f32_below(thr - tol)
    rows_u: list[np.ndarray] = []
    cols_u: list[np.ndarray] = []
    dist_u: list[np.ndarray] = []
    for s in range(0, m, block):
        e = min(m, s + block)
        lims, D, cols = _range_block(Z32, s, e, radius)
        rows = np.repeat(np.arange(s, e, dtype=np.int64), np.diff(lims))
        upper = cols > rows  # the diagonal is added below, the lower part by mirroring
        rows, cols, D = rows[upper], cols[upper], D[upper]
        dist = view.from_faiss(D) * scale
        band = np.flatnonzero(sure < D)
        if band.size:
            # the error bound at each pair's own norms: most of the band is decided by it
            t = view.pair_tolerance(sq[rows[band]], sq[cols[band]], dim) + margin
            Db = D[band].astype(np.float64)
            ok = np.ones(rows.shape[0], dtype=bool)
            ok[band] = Db < thr - t
            unsure = band[(Db >= thr - t) & (Db <= thr + t)]
            exact = exact_distances(Z[rows[unsure]], Z[cols[unsure]], metric)
            dist[unsure] = exact
            ok[unsure] = within(exact, eta)
            rows, cols, dist = rows[ok], cols[ok], dist[ok]
        rows_u.append(rows)
        cols_u.append(cols.astype(np.int32) if m < 2**31 else cols)
        dist_u.append(dist)
        del lims, D
        if progress is not None:
            progress(e, m)
    g = mirror_upper(m, np.concatenate(rows_u), np.concatenate(cols_u), np.concatenate(dist_u), eta)
    log.debug("self_graph: %d rows, %d edges", m, g.n_edges)
    return g
