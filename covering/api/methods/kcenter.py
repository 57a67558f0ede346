"""The method ``kcenter`` in radius mode: farthest-first traversal until the radius is at most
``eta`` (:func:`covering.solvers.farthest_first`; the classical baseline), no graph."""

from __future__ import annotations

import numpy as np

from covering.api.problem import ClassProblem, ClassResult
from covering.solvers import farthest_first

__all__ = ["solve"]


def solve(p: ClassProblem) -> ClassResult:
    """Farthest-first centres until every row is within ``eta`` of one."""
    ff, near, _ = farthest_first(p.Z, p.Z.shape[0], p.metric, seed=p.seed, target=p.eta)
    return ClassResult(np.sort(ff), ff[near], None, None, [], "kcenter")
