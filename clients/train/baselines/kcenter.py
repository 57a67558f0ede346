"""k-center baseline (Sener & Savarese's core-set): farthest-first traversal per class."""

from __future__ import annotations

import numpy as np

from clients.train.baselines.random import check_budget

__all__ = ["kcenter_subset"]


def kcenter_subset(
    X: np.ndarray, y: np.ndarray, per_class: int, *, metric: str = "l2", seed: int = 0
) -> np.ndarray:
    """Row indices, int64 (per_class * n_classes,), sorted: ``per_class`` farthest-first
    centres of every class of ``X`` (n, d)."""
    from covering.metrics import prepare
    from covering.solvers import farthest_first

    out = []
    for c in check_budget(y, per_class):
        rows = np.flatnonzero(y == c)
        centres, _, _ = farthest_first(prepare(X[rows], metric), per_class, metric, seed=seed)
        out.append(rows[centres])
    return np.sort(np.concatenate(out)).astype(np.int64)
