"""Metrics: the canonical float64 distance, and the float32 FAISS view used to find candidates.

Every decision "is ``d(a, b) <= eta``" in the engine is taken by :func:`within` on the value of
:func:`exact_distances`, the one canonical float64 distance of each metric (see its docstring
and ``docs/engine-exactness.md``): its value for a pair of rows is a fixed sequence of IEEE
operations on the two rows alone, so it is symmetric bit for bit and does not depend on the
pair's position in the data, in a block, or on memory layout.

FAISS works in float32 and, for L2, on *squared* distances computed as
``|x|^2 + |y|^2 - 2<x, y>``. Both facts stay inside this module and :mod:`covering.graph`: callers
only ever see radii and distances in the metric's own units. :meth:`FaissView.tolerance` bounds
the error of FAISS's value and :meth:`FaissView.margin` that of the canonical value, so that
edges far from the threshold are accepted or rejected without re-computation exactly as the
canonical distance would decide them, and only the thin band around it is re-checked.
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
    "within",
]

METRICS = ("l2", "linf", "cosine")
_U32 = float(np.finfo(np.float32).eps) / 2  # unit round-off of float32
_U64 = float(np.finfo(np.float64).eps) / 2  # unit round-off of float64
#: float64 values per temporary block of :func:`exact_distances` (~1 MiB: stays in cache)
_BLOCK_VALUES = 1 << 17
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
        # the norm by the canonical fixed-order sum: a row's prepared value never depends on
        # its block or the array's layout
        norms = np.sqrt(_row_sums(Z * Z))[:, None]
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


def within(d: np.ndarray, eta: float) -> np.ndarray:
    """The engine's one radius test: ``d <= eta`` on canonical distances (NaN is never within).

    Parameters
    ----------
    d : ndarray of float64, any shape
        Values of :func:`exact_distances`.
    eta : float

    Returns
    -------
    ndarray of bool, the shape of ``d``
    """
    return np.asarray(d, dtype=np.float64) <= float(eta)


def _fold(M: np.ndarray) -> np.ndarray:
    """Sum each row of ``M`` (float64 (e, w), C-contiguous, overwritten) in a fixed order.

    The pairwise fold: while ``w > 1``, column ``k < w // 2`` becomes ``M[:, k] + M[:, k + h]``
    (``h = w // 2``), and for odd ``w`` the last column is carried to position ``h``. Every
    step is an element-wise IEEE addition of two given values, so the result depends only on
    the row's values and ``w`` (not on SIMD width, alignment, layout or the other rows), and its
    rounding error is at most ``ceil(log2 w) * u`` relative for non-negative terms."""
    w = M.shape[1]
    if w == 0:
        return np.zeros(M.shape[0])
    while w > 1:
        h = w // 2
        np.add(M[:, :h], M[:, h : 2 * h], out=M[:, :h])
        if w % 2:
            M[:, h] = M[:, 2 * h]
        w = h + (w % 2)
    return M[:, 0].copy()


def _row_sums(M: np.ndarray) -> np.ndarray:
    """:func:`_fold` of the rows of ``M`` (float64 (e, w); not modified), blockwise."""
    e, w = M.shape
    out = np.empty(e)
    step = max(1, _BLOCK_VALUES // max(1, w))
    for s in range(0, e, step):
        out[s : s + step] = _fold(np.array(M[s : s + step], dtype=np.float64, order="C"))
    return out


def exact_distances(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    """The canonical float64 distances ``d(A[i], B[i])``, row by row.

    The engine's one distance: every exact decision (graph re-checks, verification, assignment,
    GPU and distributed paths) is :func:`within` of this value. For each pair it is a fixed
    sequence of IEEE float64 operations on the two rows alone:

    - ``l2``: ``sqrt(fold((a - b) * (a - b)))``, where ``fold`` is the pairwise sum of
      :func:`_fold` (element-wise differences and squares, then a fixed binary tree over the
      columns). A pair whose sum of squares may have lost digits to underflow or overflow
      (outside ``[2**-900, 2**900]``, or 0 for different rows) is recomputed on
      ``a / s - b / s`` with ``s`` the power of two of ``max(|a|, |b|)``, and multiplied by
      ``s`` (the same formula without the lost digits).
    - ``linf``: ``max |a - b|`` (a maximum is exact in any order); overflowing differences are
      recomputed the same way.
    - ``cosine``: ``1 - fold(a * b)`` of :func:`prepare`-d (unit) rows, and exactly 0 when the
      two prepared rows are equal.

    Hence ``d(a, b) == d(b, a)`` bit for bit (``a - b`` is ``-(b - a)`` exactly, ``a * b`` is
    ``b * a``, ``max(|a|, |b|)`` is symmetric), ``d(a, a) == 0``, and the value does not
    depend on where the pair sits in ``A``/``B``, on the block it is computed in, or on the
    arrays' memory layout (broadcast, strided, Fortran-ordered inputs give the same bits).

    Parameters
    ----------
    A, B : ndarray, shape (e, d), already :func:`prepare`-d (float64); broadcastable views are
        fine
    metric : {"l2", "linf", "cosine"}

    Returns
    -------
    ndarray of float64, shape (e,)
    """
    e = A.shape[0]
    out = np.empty(e)
    if e == 0:
        return out
    w = A.shape[1] if A.ndim == 2 else 1
    step = max(1, _BLOCK_VALUES // max(1, w))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for s in range(0, e, step):
            a = np.asarray(A[s : s + step], dtype=np.float64)
            b = np.asarray(B[s : s + step], dtype=np.float64)
            if metric == "cosine":
                out[s : s + step] = _cosine(a, b)
            else:
                out[s : s + step] = _l2_linf(a, b, metric)
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = 1.0 - _fold(np.multiply(a, b, order="C"))
    d[np.all(a == b, axis=1)] = 0.0
    return d


def _l2_linf(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    diff = np.subtract(a, b, order="C")
    if metric == "linf":
        out = np.abs(diff).max(axis=1, initial=0.0)
        bad = np.flatnonzero(~np.isfinite(out))  # a - b overflowed
    else:
        zero = ~np.any(diff != 0, axis=1)
        ss = _fold(np.multiply(diff, diff, out=diff))
        out = np.sqrt(ss)
        # outside the safe range, or all squares underflowed for different rows
        bad = np.flatnonzero(~((ss >= _SS_LOW) & (ss <= _SS_HIGH)) & ~zero)
    if bad.size:
        # the same formula on rows divided by a power of two (exact): no overflow, no underflow
        top = np.maximum(np.abs(a[bad]).max(axis=1), np.abs(b[bad]).max(axis=1))
        s = _row_pow2(top)[:, None]
        d = np.subtract(a[bad] / s, b[bad] / s, order="C")
        if metric == "linf":
            out[bad] = np.abs(d).max(axis=1) * s[:, 0]
        else:
            out[bad] = np.sqrt(_fold(np.multiply(d, d, out=d))) * s[:, 0]
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

    def margin(self, thr: float, dim: int) -> float:
        """Bound (FAISS units) on the canonical float64 distance's own rounding near ``thr``.

        A FAISS value below ``thr - tolerance - margin`` (above ``thr + tolerance + margin``) is
        a pair whose *real* distance is so far inside (outside) the radius that
        :func:`exact_distances` and :func:`within` decide it the same way: its error is at most
        ``(ceil(log2 dim) + 10) u64`` relative for L2 and L-inf and, for cosine, as much
        absolute (unit rows are unit only to float64 precision). This term is ~1e8 times
        smaller than the float32 ``tolerance``; it makes the skipped re-checks provably
        identical to the canonical decision.

        Parameters
        ----------
        thr : float
            The threshold in FAISS units (:meth:`to_faiss` of ``eta / scale``).
        dim : int
            Number of columns of the float64 rows the canonical distance is computed on.
        """
        t = abs(float(thr))
        if not np.isfinite(t):  # every finite FAISS value is far below an infinite threshold
            t = 0.0
        extra = 2.0 if self.metric == "cosine" else 0.0
        return 16.0 * (dim + 16) * _U64 * (t + extra)

    @staticmethod
    def pair_tolerance(sq_a: np.ndarray, sq_b: np.ndarray, dim: int) -> np.ndarray:
        """The L2 bound of :meth:`tolerance` for pairs of rows with squared float32 norms
        ``sq_a`` and ``sq_b`` (float64 arrays of one shape): the same bound, evaluated at the
        pair's own norms instead of the largest (``tolerance`` is its value at the maximum)."""
        gamma = 2.0 * (dim + 8) * _U32
        return 4.0 * (gamma + 8.0 * _U32) * (sq_a + sq_b) + 1e-30
