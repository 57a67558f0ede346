"""MFC at a budget: a labelled cover with exactly ``per_class`` centres in every class."""

import logging

import numpy as np

from clients.train.baselines.random import check_budget

__all__ = ["budget_cover"]

log = logging.getLogger(__name__)


def budget_cover(
    X: np.ndarray, y: np.ndarray, per_class: int, *, metric: str = "l2", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, float]:
    """A cover of ``X`` (n, d) with ``per_class`` centres in each class of ``y``: every class
    is covered on its own by the engine in budget mode (``covering.cover(X_c, k=per_class)``:
    farthest-first, then bisection on eta with the greedy set cover, then a farthest-first
    top-up; verified), so the cover has the same number of points per class as the baselines.

    Returns
    -------
    indices : int64 (m,), sorted centre rows
    weights : int64 (m,), points each centre stands for (sum n)
    radius : float, the achieved cover radius (the largest over the classes)
    """
    import covering

    classes = check_budget(y, per_class)
    idx: list[np.ndarray] = []
    wts: list[np.ndarray] = []
    radius = 0.0
    for c in classes:
        rows = np.flatnonzero(y == c)
        cov = covering.cover(X[rows], k=per_class, metric=metric, seed=seed)
        idx.append(rows[cov.indices])
        wts.append(cov.weights)
        radius = max(radius, float(cov.radius))
    indices, weights = np.concatenate(idx), np.concatenate(wts)
    order = np.argsort(indices)
    return indices[order], weights[order].astype(np.int64), radius
