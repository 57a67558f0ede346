"""Exact set cover as a MILP solved by HiGHS, with a time limit and an optional warm start.

``min sum_j x_j  s.t.  sum_{j covers i} x_j >= 1 for every point i,  x binary``.
When the time limit stops the search, the incumbent (always feasible: the warm start, or the
greedy cover when none is given) is returned, never as infeasible. HiGHS's ``Optimal`` and dual
bound are recorded but never used as certificates (see :class:`MilpResult`).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass

import highspy
import numpy as np

from covering.graph import Graph
from covering.solvers.greedy import greedy_cover

__all__ = ["MilpResult", "milp_cover"]

log = logging.getLogger(__name__)

_banner_lock = threading.Lock()
_banner_done = False


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance (the one-time copyright banner is kept off stdout)."""
    global _banner_done
    with _banner_lock:
        if _banner_done:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
                h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(devnull)
            _banner_done = True
    h.setOptionValue("output_flag", False)
    return h


@dataclass(frozen=True)
class MilpResult:
    """Outcome of :func:`milp_cover`.

    HiGHS's claims are *not* certificates: its B&B dual bound rests on floating-point
    tolerances and its presolve, and HiGHS 1.16 was seen to report ``Optimal`` for a cover one
    centre above the optimum (a MIP start mapped wrongly through presolve). The engine claims
    optimality only when the size equals a certified lower bound
    (:func:`covering.solvers.lower_bound`); these fields are informational.

    Attributes
    ----------
    centres : ndarray of int64, sorted
        A cover of ``g`` (checked here; never larger than the warm start).
    solver_optimal : bool
        HiGHS reported ``Optimal`` (consistently: its objective equals the size returned).
    solver_bound : float
        HiGHS's dual bound (``-inf`` when it has none); not a certificate.
    status : str
    """

    centres: np.ndarray
    solver_optimal: bool
    solver_bound: float
    status: str


def _solve(
    g: Graph,
    st: Graph,
    time_limit: float,
    start: np.ndarray | None,
    threads: int,
    seed: int,
) -> tuple[np.ndarray | None, bool, float, str, float]:
    """One HiGHS run: (its chosen columns or None, Optimal reported, objective, status, bound)."""
    n, m = g.n_rows, g.n_cols
    h = new_highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.setOptionValue("random_seed", int(seed))
    if threads:
        h.setOptionValue("threads", int(threads))
    lp = highspy.HighsLp()
    lp.num_col_ = m
    lp.num_row_ = n
    lp.col_cost_ = np.ones(m)
    lp.col_lower_ = np.zeros(m)
    lp.col_upper_ = np.ones(m)
    lp.row_lower_ = np.ones(n)
    lp.row_upper_ = np.full(n, highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = st.indptr.astype(np.int32)
    lp.a_matrix_.index_ = st.indices.astype(np.int32)
    lp.a_matrix_.value_ = np.ones(st.n_edges)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * m
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        x0 = np.zeros(m)
        x0[start] = 1.0
        sol.col_value = list(x0)
        h.setSolution(sol)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    optimal = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    x = np.asarray(h.getSolution().col_value)
    chosen = np.flatnonzero(x > 0.5) if x.size == m else None
    bound = float(info.mip_dual_bound)
    return chosen, optimal, float(info.objective_function_value), status, bound


def milp_cover(
    g: Graph,
    *,
    time_limit: float = 60.0,
    warm_start: np.ndarray | None = None,
    threads: int = 0,
    seed: int = 0,
) -> MilpResult:
    """Solve the set cover of ``g`` exactly (or as well as ``time_limit`` allows).

    Parameters
    ----------
    g : Graph
        Rows to cover, columns are candidates.
    time_limit : float
        Seconds given to HiGHS.
    warm_start : ndarray of int64, optional
        A feasible cover (columns) used as the first incumbent. Defaults to the greedy cover.
    threads : int
        HiGHS threads (0: its default).

    Returns
    -------
    MilpResult
        Its ``centres`` always cover ``g``; ``solver_optimal`` is HiGHS's word, not a proof.
    """
    n = g.n_rows
    if n == 0:
        return MilpResult(np.zeros(0, dtype=np.int64), True, 0.0, "empty")
    incumbent = np.sort(warm_start if warm_start is not None else greedy_cover(g))
    st = g.transpose(dist=False)
    t0 = time.perf_counter()
    chosen, optimal, objective, status, bound = _solve(g, st, time_limit, incumbent, threads, seed)
    left = float(time_limit) - (time.perf_counter() - t0)
    if optimal and (chosen is None or abs(objective - chosen.shape[0]) > 0.5) and left > 0:
        # HiGHS's objective disagrees with the solution it returns: its presolve mishandled
        # the MIP start (seen with HiGHS 1.16: "Optimal", objective 25, the 28-column start
        # returned). Solve again from scratch for the time left.
        log.info(
            "HiGHS returned %s centres for objective %g (%s): solving again without the start",
            None if chosen is None else chosen.shape[0],
            objective,
            status,
        )
        chosen, optimal, objective, status, bound = _solve(g, st, left, None, threads, seed)
    consistent = chosen is not None and abs(objective - chosen.shape[0]) <= 0.5
    if chosen is None or not _covers(g, chosen) or chosen.shape[0] > incumbent.shape[0]:
        chosen = incumbent
    if not optimal:
        log.warning(
            "MILP stopped (%s) after %.1fs: returning the best cover found", status, time_limit
        )
    return MilpResult(
        np.sort(chosen).astype(np.int64),
        bool(optimal and consistent),
        bound if np.isfinite(bound) else -math.inf,
        status,
    )


def _covers(g: Graph, centres: np.ndarray) -> bool:
    mark = np.zeros(g.n_cols, dtype=bool)
    mark[centres] = True
    hit = np.zeros(g.n_rows, dtype=bool)
    rows = np.repeat(np.arange(g.n_rows), g.degrees())
    hit[rows[mark[g.indices]]] = True
    return bool(hit.all())
