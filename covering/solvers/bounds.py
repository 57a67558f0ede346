"""Proven lower bounds on the size of an optimal set cover.

Both bounds are certified by an explicit *dual feasible* solution ``y >= 0`` with
``sum_{i covered by j} y_i <= 1`` for every candidate ``j``: weak duality then gives
``OPT >= sum(y)``, and ``ceil`` of it since OPT is an integer. The LP dual comes from HiGHS and
is re-scaled here to be exactly feasible, so solver tolerances never inflate the bound.

The certification itself cannot round up wrongly (:func:`_certify`): ``y`` is first rounded
*down* to a dyadic grid fine enough that every sum of its entries is exact in float64 whatever
the summation order, so the loads and the total are exact, and the final ``ceil(total / load)``
is taken in rational arithmetic. The bounds hold for the graph they are given; the engine's
graphs are the canonical eta-graphs (``docs/engine-exactness.md``), so they hold for every valid
cover, whatever the order of the rows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from covering.graph import Graph

__all__ = ["LPRelaxation", "degree_bound", "lower_bound", "lp_relaxation", "packing_bound"]

log = logging.getLogger(__name__)

#: the LP bound is attempted up to this many edges (larger: the degree bound only)
LP_MAX_EDGES = 4_000_000


def _per_row(op: np.ufunc, values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """``op`` reduced over each CSR row of ``values`` (float64 (E,)); 0.0 for empty rows."""
    out = np.zeros(indptr.shape[0] - 1)
    full = np.flatnonzero(np.diff(indptr) > 0)
    if full.size:
        out[full] = op.reduceat(values, indptr[full])
    return out


def _certify(y: np.ndarray, sets: Graph) -> int:
    """``ceil(sum y' / max(1, max_j load_j))``: a lower bound on any cover size, proven exactly.

    ``y'`` is ``y`` clipped to [0, 1] (a dual value above 1 is never feasible; NaN counts as 0)
    and rounded down to multiples of ``2**-k``, with ``n * 2**k <= 2**52``: every partial sum of
    ``y'`` is then an integer multiple of ``2**-k`` below ``2**52 * 2**-k``, hence exact in
    float64 in any order, so each load ``sum_{i in S_j} y'_i`` and the total are exact. Dividing
    by the largest load (when above 1) makes ``y'`` exactly dual feasible, and the ceiling of the
    quotient is taken on rationals. (Rounding down loses less than ``n * 2**-k``, about 2e-4
    for a million rows, and never makes the bound invalid.)
    """
    y = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    y = np.clip(y, 0.0, 1.0)
    n = y.shape[0]
    if n == 0:
        return 0
    k = 52 - int(n).bit_length()
    y = np.floor(np.ldexp(y, k))  # integers <= 2**k, exact
    load = _per_row(np.add, y[sets.indices], sets.indptr)  # integers <= n * 2**k: exact
    total = Fraction(int(y.sum()))
    top = Fraction(int(load.max())) if load.size else Fraction(0)
    unit = Fraction(2) ** k  # y' = y / 2**k; loads and total in the same units
    value = total / max(unit, top)
    return max(1, math.ceil(value))


def degree_bound(g: Graph, sets: Graph | None = None) -> int:
    """Cheap dual bound: ``y_i = 1 / max_{j covering i} |S_j|``. O(E).

    (:func:`lower_bound` also takes :func:`packing_bound`, the dual solution with ``y = 1`` on
    a set of rows that pairwise share no candidate, and keeps the larger.)"""
    st = sets if sets is not None else g.transpose(dist=False)
    size = np.diff(st.indptr).astype(np.float64)
    if g.n_rows == 0:
        return 0
    best = _per_row(np.maximum, size[g.indices], g.indptr)
    y = np.divide(1.0, best, out=np.zeros_like(best), where=best > 0)
    return _certify(y, st)


@dataclass(frozen=True)
class LPRelaxation:
    """Solution of the covering LP ``min 1'x, A x >= 1, x >= 0``.

    Attributes
    ----------
    bound : int
        Certified lower bound (from the re-scaled dual, see module doc).
    x : ndarray of float64, shape (n_cols,)
        Primal solution (used to guide the greedy solver).
    value : float
        LP optimum as reported by HiGHS.
    """

    bound: int
    x: np.ndarray
    value: float


def packing_bound(g: Graph) -> int:
    """Size of a greedy packing: rows no two of which share a candidate (each needs its own
    centre). Rows are taken by increasing degree. O(E) plus a loop over rows."""
    used = np.zeros(g.n_cols, dtype=bool)
    count = 0
    indptr, indices = g.indptr, g.indices
    for i in np.argsort(g.degrees(), kind="stable"):
        cand = indices[indptr[i] : indptr[i + 1]]
        if not used[cand].any():
            used[cand] = True
            count += 1
    return count


def lp_relaxation(
    g: Graph, sets: Graph | None = None, *, time_limit: float = 60.0
) -> LPRelaxation | None:
    """Solve the LP relaxation with HiGHS; None if it did not finish in ``time_limit`` s.

    No upper bound ``x <= 1`` is imposed (it is never binding at an optimum), so the dual is a
    pure packing and the certificate loses nothing.
    """
    st = sets if sets is not None else g.transpose(dist=False)
    n, m = g.n_rows, g.n_cols
    if n == 0:
        return LPRelaxation(0, np.zeros(m), 0.0)
    rows = np.repeat(np.arange(n), g.degrees())
    A = sp.csr_matrix((-np.ones(g.n_edges), (rows, g.indices)), shape=(n, m))
    res = linprog(
        np.ones(m),
        A_ub=A,
        b_ub=-np.ones(n),
        bounds=(0, None),
        method="highs-ipm",
        options={"time_limit": float(time_limit), "presolve": True},
    )
    if res.status != 0 or res.ineqlin is None or res.x is None:
        log.info("LP relaxation not solved: %s", res.message)
        return None
    bound = _certify(-np.asarray(res.ineqlin.marginals), st)
    return LPRelaxation(bound, np.asarray(res.x, dtype=np.float64), float(res.fun))


def lower_bound(
    g: Graph,
    sets: Graph | None = None,
    *,
    method: str = "auto",
    time_limit: float = 60.0,
) -> tuple[int, str, LPRelaxation | None]:
    """Best proven lower bound, its kind (``"lp"``, ``"degree"``, ``"packing"``) and the LP.

    ``method="auto"`` solves the LP up to ``LP_MAX_EDGES`` edges; the O(E) degree and packing
    bounds are always computed. ``method="degree"`` skips the LP.
    """
    st = sets if sets is not None else g.transpose(dist=False)
    deg, pack = degree_bound(g, st), packing_bound(g)
    cheap, kind = (pack, "packing") if pack > deg else (deg, "degree")
    if method == "degree" or (method == "auto" and g.n_edges > LP_MAX_EDGES):
        return cheap, kind, None
    lp = lp_relaxation(g, st, time_limit=time_limit)
    if lp is None or lp.bound < cheap:
        return cheap, kind, lp
    return lp.bound, "lp", lp
