"""Metrics: exact float64 distances, and the float32 FAISS view used to find candidates.

FAISS works in float32 and, for L2, on *squared* distances computed as
``|x|^2 + |y|^2 - 2<x, y>``. Both facts stay inside this module and :mod:`covering.graph`: callers
only ever see radii and distances in the metric's own units. :func:`search_tolerance` bounds the
error of FAISS's value so that edges far from the threshold are accepted or rejected without
re-computation, and only the thin band around it is re-checked in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "METRICS",
    "FaissView",
    "check_metric",
    "exact_distances",
    "pow2_scale",
    "prepare",
    "span_scale",
    "unit_scale",
]

METRICS = ("l2", "linf", "cosine")
_U32 = float(np.finfo(np.float32).eps) / 2  # unit round-off of float32
#: sums of squares outside [_SS_LOW, _SS_HIGH] may have lost digits to underflow or overflow:
#: those rows are recomputed on rescaled values (see :func:`exact_distances`)
_SS_LOW = 2.0**-900
_SS_HIGH = 2.0**900


def check_metric(metric: str) -> str:
    """Return ``metric`` if supported, else raise ``ValueError``."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
    return metric


def prepare(X: np.ndarray, metric: str) -> np.ndarray:
    """Rows in float64, in the space where the metric is evaluated.

    Parameters
    ----------
    X : ndarray, shape (n, d), float16/32/64
    metric : {"l2", "linf", "cosine"}

    Returns
    -------
    ndarray of float64, shape (n, d)
        ``X`` itself for ``l2``/``linf``; rows scaled to unit L2 norm for ``cosine``.
    """
    Z = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        # rows scaled by a power of two first (exact): norms neither overflow nor underflow
        Z = Z / _row_pow2(np.abs(Z).max(axis=1, initial=0.0))[:, None]
        norms = np.linalg.norm(Z, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("cosine metric: X has all-zero rows (their cosine is undefined)")
        Z = Z / norms
    return Z


def pow2_scale(maxabs: float) -> float:
    """A power of two ``s`` with ``maxabs / s`` in [1, 2); 1.0 when ``maxabs`` is 0 or not
    finite. Dividing by ``s`` is exact in floating point (barring subnormals), so distances and
    comparisons scale exactly."""
    m = float(maxabs)
    if not (m > 0 and np.isfinite(m)):
        return 1.0
    return float(np.ldexp(1.0, int(np.frexp(m)[1]) - 1))


def _row_pow2(maxabs: np.ndarray) -> np.ndarray:
    """:func:`pow2_scale` of each entry of ``maxabs`` (float64 (n,))."""
    ok = (maxabs > 0) & np.isfinite(maxabs)
    out = np.ones(maxabs.shape[0])
    out[ok] = np.ldexp(1.0, np.frexp(maxabs[ok])[1] - 1)
    return out


def unit_scale(Z: np.ndarray, shift: np.ndarray, metric: str) -> float:
    """The power of two that brings the rows ``Z - shift`` (float64 (n, d)) to unit scale for
    FAISS's float32 arithmetic (squares of values near 1e20 overflow float32, near 1e-20
    vanish); 1.0 for cosine (unit rows already) or no rows."""
    if metric == "cosine" or Z.shape[0] == 0:
        return 1.0
    return span_scale(Z.max(axis=0), Z.min(axis=0), shift)


def span_scale(hi: np.ndarray, lo: np.ndarray, shift: np.ndarray) -> float:
    """:func:`pow2_scale` of the largest ``|hi - shift|``, ``|lo - shift|`` (column extremes of
    rows, float64 (d,)): the power of two that brings the centred rows to unit scale."""
    return pow2_scale(max(float(np.abs(hi - shift).max()), float(np.abs(lo - shift).max())))


def exact_distances(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    """Row-wise exact distances ``d(A[i], B[i])`` in float64.

    L2 is ``sqrt(sum((a - b)^2))``; rows whose sum of squares may have under- or overflowed
    (values beyond ~1e+-150) are recomputed on values divided by a power of two, which is the
    same formula without the lost digits.

    Parameters
    ----------
    A, B : ndarray, shape (e, d), already :func:`prepare`-d (float64)
    metric : {"l2", "linf", "cosine"}

    Returns
    -------
    ndarray of float64, shape (e,)
    """
    if metric == "cosine":
        return 1.0 - np.einsum("ij,ij->i", A, B)
    if A.shape[0] == 0:
        return np.zeros(0)
    with np.errstate(over="ignore", under="ignore"):  # a distance past 1.8e308 is inf
        return _exact_l2_linf(A, B, metric)


def _exact_l2_linf(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    diff = A - B
    if metric == "linf":
        out = np.abs(diff).max(axis=1)
        bad = np.flatnonzero(~np.isfinite(out))  # A - B overflowed
    else:
        ss = np.einsum("ij,ij->i", diff, diff)
        out = np.sqrt(ss)
        bad = np.flatnonzero(~((ss >= _SS_LOW) & (ss <= _SS_HIGH)) & (ss != 0))
        tiny = np.flatnonzero(ss == 0)  # identical rows, or squares that all underflowed
        if tiny.size:
            bad = np.union1d(bad, tiny[np.any(diff[tiny] != 0, axis=1)])
    if bad.size:
        # the same formula on rows divided by a power of two (exact): no overflow, no underflow
        top = np.maximum(np.abs(A[bad]).max(axis=1), np.abs(B[bad]).max(axis=1))
        s = _row_pow2(top)[:, None]
        d = A[bad] / s - B[bad] / s
        if metric == "linf":
            out[bad] = np.abs(d).max(axis=1) * s[:, 0]
        else:
            out[bad] = np.sqrt(np.einsum("ij,ij->i", d, d)) * s[:, 0]
    return out


@dataclass(frozen=True)
class FaissView:
    """How one metric maps onto FAISS.

    Attributes
    ----------
    faiss_metric : {"l2", "linf"}
        The FAISS metric used on the float32 vectors (cosine becomes L2 on unit vectors).
    """

    metric: str
    faiss_metric: str

    @staticmethod
    def of(metric: str) -> FaissView:
        return FaissView(metric, "linf" if metric == "linf" else "l2")

    def to_faiss(self, eta: float) -> float:
        """Threshold in FAISS units for radius ``eta``."""
        if self.metric == "l2":
            return eta * eta
        if self.metric == "cosine":
            return 2.0 * eta
        return eta

    def from_faiss(self, value: np.ndarray) -> np.ndarray:
        """Approximate distances in metric units from FAISS values."""
        v = np.asarray(value, dtype=np.float64)
        if self.metric == "l2":
            return np.sqrt(np.maximum(v, 0.0))
        if self.metric == "cosine":
            return np.maximum(v, 0.0) / 2.0
        return v

    def tolerance(self, Z32: np.ndarray, dim: int) -> float:
        """Bound (FAISS units) on |FAISS value - exact value| for rows of ``Z32``.

        ``Z32`` are the float32 vectors FAISS sees (already centred). The bound is the classical
        dot-product error bound ``gamma_d * sum |x_i y_i|`` doubled, plus the error of the
        float64 -> float32 conversion, evaluated at the largest row norm.
        """
        if Z32.shape[0] == 0:
            return 0.0
        if self.faiss_metric == "linf":
            m = float(np.abs(Z32).max())
            return 8.0 * _U32 * (2.0 * m) + 1e-30
        sq = float(np.einsum("ij,ij->i", Z32, Z32, dtype=np.float64).max())
        return float(self.pair_tolerance(np.array(sq), np.array(sq), dim))

    @staticmethod
    def pair_tolerance(sq_a: np.ndarray, sq_b: np.ndarray, dim: int) -> np.ndarray:
        """The L2 bound of :meth:`tolerance` for pairs of rows with squared float32 norms
        ``sq_a`` and ``sq_b`` (float64 arrays of one shape): the same bound, evaluated at the
        pair's own norms instead of the largest (``tolerance`` is its value at the maximum)."""
        gamma = 2.0 * (dim + 8) * _U32
        return 4.0 * (gamma + 8.0 * _U32) * (sq_a + sq_b) + 1e-30
