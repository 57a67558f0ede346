"""Per-class solving in radius mode: :func:`solve_radius` looks the method up in the registry
(:data:`covering.api.methods.REGISTRY`)."""

from __future__ import annotations

import numpy as np

from covering.api.methods import REGISTRY
from covering.api.problem import ClassProblem, ClassResult
from covering.progress import Reporter

__all__ = ["solve_radius"]


def solve_radius(
    Z: np.ndarray,
    eta: float,
    metric: str,
    method: str,
    *,
    seed: int,
    time_limit: float | None,
    bound: bool,
    index: str,
    report: Reporter,
    backend: str = "cpu",
    base: int,
    total: int,
) -> ClassResult:
    """Cover one class's rows ``Z`` (float64, shape (n, d)) at radius ``eta`` with ``method``;
    indices in the result are rows of ``Z``. Shared by :func:`covering.cover`,
    :class:`covering.CoverBuilder` and :mod:`covering.sizing`; progress is reported as rows
    ``base + done`` of ``total`` (stages ``graph`` and ``solve``)."""
    problem = ClassProblem(
        Z,
        eta,
        metric,
        method,
        seed=seed,
        time_limit=time_limit,
        bound=bound,
        index=index,
        backend=backend,
        progress=report.stage("graph", base, total),
    )
    result = REGISTRY[method](problem)
    report("solve", base + Z.shape[0], total)
    return result
