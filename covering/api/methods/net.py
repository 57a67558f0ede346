"""The method ``net``: a streaming eta-net (:func:`covering.solvers.net_cover`), no graph."""

from __future__ import annotations

from covering.api.problem import ClassProblem, ClassResult
from covering.solvers import net_cover

__all__ = ["solve"]


def solve(p: ClassProblem) -> ClassResult:
    """Every row joins the nearest centre within ``eta`` or becomes a centre."""
    centres, centre_of = net_cover(p.Z, p.eta, p.metric)
    return ClassResult(centres, centre_of, None, None, [], "net")
