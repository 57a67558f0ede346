"""From FAISS's float32 values to exact edges: the float32 helpers and the exact decision.

FAISS proposes candidates in float32 with a slightly inflated radius; every edge whose FAISS
value lies within the float32 error bound of the threshold is re-computed with the canonical
float64 distance (:func:`covering.metrics.exact_distances`), and FAISS's value decides the
others only where it is provably on the same side as the canonical one, so the edge set is
exactly the canonical eta-graph: ``(i, j)`` is an edge iff
``within(exact_distances(Q[i], C[j]), eta)``.
"""

from __future__ import annotations

import numpy as np

from covering.metrics import FaissView, exact_distances, within

__all__ = ["exact_edges", "f32_above", "f32_below", "to_float32"]

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


def _key_scale(eta: float) -> float:
    """Upper bound on edge distances of a graph of radius ``eta`` (for sort keys)."""
    return float(eta) * (1.0 + 1e-6) + 1e-300


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
