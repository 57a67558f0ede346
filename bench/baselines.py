"""Baselines, implemented here from their papers.

* :func:`farthest_first_cover`: the k-center greedy of Sener & Savarese (ICLR 2018), run until
  the covering radius is ``<= eta`` (their eps-greedy), vectorised the way DeepCore
  (``deepcore/methods/kcentergreedy.py``) does it: one row of distances from the newest centre
  to every point per step (``|x|^2 + |c|^2 - 2 <x, c>`` in float32), then a running minimum.
  DeepCore keeps the whole (budget, n) distance matrix; here only the running minimum is kept
  (same arithmetic, O(n) memory). Points are covered per class, like the engine. The float32
  radius is re-checked in float64 at the end and any row still farther than ``eta`` becomes a
  centre, so the result is a valid cover.
* :func:`milp_baseline`: the exact set-cover MILP ``min sum x_j`` s.t. every point has a chosen
  centre within ``eta`` (the formulation of the reference code, which solves it with Gurobi on a
  dense n x n distance matrix), solved with HiGHS on the sparse incidence matrix instead,
  computed by blocked brute force in float64. Only run where it fits (``MILP_MAX_ROWS``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

__all__ = ["MILP_MAX_ROWS", "BaselineResult", "farthest_first_cover", "milp_baseline"]

log = logging.getLogger(__name__)

#: the MILP baseline is skipped for classes larger than this
MILP_MAX_ROWS = 6_000
#: rows per block of the MILP's brute-force distance computation
_BLOCK = 1024


@dataclass(frozen=True)
class BaselineResult:
    """Centres chosen by a baseline.

    Attributes
    ----------
    centres : ndarray of int64, shape (m,), sorted row numbers of X
    centre_of : ndarray of int64, shape (n,), row number of each row's centre
    lower_bound : int or None
        MILP: the solver's proven bound (== size when optimal).
    optimal : bool or None
    """

    centres: np.ndarray
    centre_of: np.ndarray
    lower_bound: int | None = None
    optimal: bool | None = None


def _groups(y: np.ndarray | None, n: int) -> list[np.ndarray]:
    if y is None:
        return [np.arange(n, dtype=np.int64)]
    return [np.flatnonzero(y == v) for v in np.unique(y)]


def _ff_class(X: np.ndarray, eta: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Farthest-first on one class (float32 (m, d)); local centres and local centre of rows."""
    m = X.shape[0]
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    sq = np.einsum("ij,ij->i", X32, X32)
    first = int(np.random.default_rng(seed).integers(m))
    centres = [first]
    mins = np.maximum(sq + sq[first] - 2.0 * (X32 @ X32[first]), 0.0)
    owner = np.full(m, first, dtype=np.int64)
    thr = np.float32(eta * eta)
    while True:
        p = int(np.argmax(mins))
        if mins[p] <= thr:
            break
        centres.append(p)
        d = np.maximum(sq + sq[p] - 2.0 * (X32 @ X32[p]), 0.0)
        closer = d < mins
        mins = np.where(closer, d, mins)
        owner[closer] = p
        mins[p] = 0.0
    # exact float64 check of the float32 decisions; rows still outside become centres
    X64 = X.astype(np.float64, copy=False)
    diff = X64 - X64[owner]
    exact = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    bad = np.flatnonzero(exact > eta)
    if bad.size:
        log.info("farthest_first: %d rows fixed after the float64 check", bad.size)
        owner[bad] = bad
        centres.extend(int(b) for b in bad)
    return np.unique(np.asarray(centres, dtype=np.int64)), owner


def farthest_first_cover(
    X: np.ndarray, y: np.ndarray | None, eta: float, *, seed: int = 0
) -> BaselineResult:
    """Sener & Savarese k-center greedy until the radius is ``<= eta`` (L2), per class.

    Parameters
    ----------
    X : ndarray, shape (n, d), float
    y : ndarray of int, shape (n,), optional
    eta : float
    seed : int
        Draws the first centre of each class.

    Returns
    -------
    BaselineResult
    """
    n = X.shape[0]
    centres: list[np.ndarray] = []
    centre_of = np.empty(n, dtype=np.int64)
    for rows in _groups(y, n):
        c, owner = _ff_class(np.asarray(X[rows]), eta, seed)
        centres.append(rows[c])
        centre_of[rows] = rows[owner]
    return BaselineResult(np.sort(np.concatenate(centres)), centre_of)


def _incidence(Z: np.ndarray, eta: float) -> sp.csr_matrix:
    """Sparse (m, m) 0/1 matrix: entry (i, j) when ``|Z_i - Z_j| <= eta`` (exact float64)."""
    m = Z.shape[0]
    sq = np.einsum("ij,ij->i", Z, Z)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for s in range(0, m, _BLOCK):
        e = min(m, s + _BLOCK)
        d2 = sq[s:e, None] + sq[None, :] - 2.0 * (Z[s:e] @ Z.T)
        # float64 Gram error is ~1e-12 relative: decide the thin band exactly
        near = d2 <= eta * eta * (1 + 1e-9) + 1e-9
        r, c = np.nonzero(near)
        diff = Z[s + r] - Z[c]
        ok = np.sqrt(np.einsum("ij,ij->i", diff, diff)) <= eta
        rows.append(s + r[ok])
        cols.append(c[ok])
    rr, cc = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(rr.shape[0]), (rr, cc)), shape=(m, m))


def milp_baseline(
    X: np.ndarray, y: np.ndarray | None, eta: float, *, time_limit: float = 60.0
) -> BaselineResult | None:
    """Exact set-cover MILP per class (L2) with HiGHS; ``None`` if a class is too large.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    y : ndarray of int, shape (n,), optional
    eta : float
    time_limit : float
        Seconds per class; a class that hits it contributes its best solution and bound.
    """
    n = X.shape[0]
    groups = _groups(y, n)
    if max(g.shape[0] for g in groups) > MILP_MAX_ROWS:
        return None
    centres: list[np.ndarray] = []
    centre_of = np.empty(n, dtype=np.int64)
    bound = 0
    optimal = True
    for rows in groups:
        Z = np.asarray(X[rows], dtype=np.float64)
        A = _incidence(Z, eta)
        m = Z.shape[0]
        t0 = time.perf_counter()
        res = milp(
            np.ones(m),
            constraints=LinearConstraint(A, lb=np.ones(m), ub=np.inf),
            integrality=np.ones(m),
            bounds=Bounds(0, 1),
            options={"time_limit": float(time_limit), "disp": False},
        )
        if res.x is None:
            raise RuntimeError(f"MILP baseline found no solution: {res.message}")
        chosen = np.flatnonzero(res.x > 0.5)
        optimal = optimal and res.status == 0
        dual = getattr(res, "mip_dual_bound", None)
        bound += int(np.ceil(dual - 1e-6)) if dual is not None else int(chosen.shape[0])
        log.debug(
            "milp class of %d rows: %d centres in %.2fs",
            m,
            chosen.shape[0],
            time.perf_counter() - t0,
        )
        # a chosen centre within eta of each row (the incidence is exact, rows are feasible)
        sub = A[:, chosen].tocsr()
        owner = chosen[sub.indices[sub.indptr[:-1]]]
        centres.append(rows[chosen])
        centre_of[rows] = rows[owner]
    return BaselineResult(np.sort(np.concatenate(centres)), centre_of, bound, optimal)
