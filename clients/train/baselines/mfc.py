"""MFC at a budget: a labelled cover with about ``per_class`` centres per class (budget mode)."""

from __future__ import annotations

import logging

import numpy as np

from clients.train.baselines.random import check_budget

__all__ = ["budget_cover"]

log = logging.getLogger(__name__)


def budget_cover(X: np.ndarray, y: np.ndarray, per_class: int, *, metric: str = "l2",
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """A cover of ``X`` (n, d) with ``per_class * n_classes`` centres, split over the classes
    of ``y`` by the engine (``covering.cover(X, y, k=...)``, budget mode: farthest-first, then
    bisection on eta with the greedy set cover, then a farthest-first top-up; verified).

    Returns
    -------
    indices : int64 (m,), sorted centre rows
    weights : int64 (m,), points each centre stands for (sum n)
    radius : float, the achieved cover radius
    """
    import covering

    classes = check_budget(y, per_class)
    cov = covering.cover(X, y, k=per_class * len(classes), metric=metric, seed=seed)
    return cov.indices, cov.weights, float(cov.radius)
