"""The graph methods ``greedy``, ``milp`` and ``auto``: set cover on the class's exact eta-graph.

``greedy``: greedy set cover (:func:`covering.solvers.greedy_cover`), with a proven lower bound
when asked (and, when the LP relaxation was solved for it, an LP-guided greedy run, the smaller
cover kept). ``milp``: the same, then HiGHS warm-started from the greedy cover
(:func:`covering.solvers.milp_cover`, 60 s by default). ``auto``: greedy with its lower bound,
then a MILP polish (:data:`AUTO_MILP_SECONDS`) on classes small enough whose greedy size is
not already proven optimal.
"""

from __future__ import annotations

import numpy as np

from covering.api.problem import ClassProblem, ClassResult, assign_from_graph
from covering.result import CoverError
from covering.solvers import greedy_cover, lower_bound, milp_cover

__all__ = ["AUTO_MILP_MAX_EDGES", "AUTO_MILP_MAX_ROWS", "AUTO_MILP_SECONDS", "solve"]

#: auto: classes up to this many rows (and AUTO_MILP_MAX_EDGES edges) get a MILP polish
AUTO_MILP_MAX_ROWS = 20_000
AUTO_MILP_MAX_EDGES = 3_000_000
#: auto: MILP polish time per class (seconds) unless ``time_limit`` says otherwise
AUTO_MILP_SECONDS = 10.0


def solve(p: ClassProblem) -> ClassResult:
    """Cover the class of ``p`` with ``p.method`` (``"greedy"``, ``"milp"`` or ``"auto"``)."""
    method, n = p.method, p.Z.shape[0]
    g = p.graph()
    sets = g.transpose(dist=False)
    centres = greedy_cover(g, sets=sets)
    lb: int | None = None
    optimal: bool | None = None
    notes: list[str] = []
    if p.bound or method in ("auto", "milp"):
        lb, _kind, lp = lower_bound(g, sets)
        if lp is not None and centres.shape[0] > lb:
            # LP-guided greedy: take the candidates the LP sets to 1, break ties by LP value.
            guided = greedy_cover(g, sets=sets, start=np.flatnonzero(lp.x >= 1 - 1e-6), bonus=lp.x)
            if guided.shape[0] < centres.shape[0]:
                centres = guided
    small = n <= AUTO_MILP_MAX_ROWS and g.n_edges <= AUTO_MILP_MAX_EDGES
    proven = lb is not None and centres.shape[0] == lb
    ran_milp = method == "milp" or (method == "auto" and small and not proven)
    if ran_milp:
        limit = (
            p.time_limit
            if p.time_limit is not None
            else (AUTO_MILP_SECONDS if method == "auto" else 60.0)
        )
        res = milp_cover(g, time_limit=limit, warm_start=centres, seed=p.seed)
        if res.centres.shape[0] <= centres.shape[0]:
            centres = res.centres
        if not res.solver_optimal:
            notes.append(
                f"MILP stopped by its {limit:g}s time limit ({res.status}); "
                "best cover found returned"
            )
        elif lb is not None and centres.shape[0] > lb:
            notes.append(
                f"MILP (HiGHS) found no smaller cover, but the certified lower bound is {lb}: "
                "optimality not claimed"
            )
    if lb is not None and lb > centres.shape[0]:
        # cannot happen: the bound is certified on the same canonical graph the cover is of
        raise CoverError(
            f"internal error: certified lower bound {lb} above a cover of "
            f"{centres.shape[0]} centres"
        )
    # optimal only when the size equals a *certified* lower bound (never a solver's word)
    if lb is not None and centres.shape[0] == lb:
        optimal = True
    elif ran_milp:
        optimal = False
    if not p.bound and method not in ("auto", "milp"):
        lb = None
    used = (
        "greedy+milp"
        if (method == "auto" and ran_milp)
        else ("greedy" if method == "auto" else method)
    )
    return ClassResult(centres, assign_from_graph(g, centres), lb, optimal, notes, used)
