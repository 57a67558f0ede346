"""Random subset baseline: ``per_class`` rows drawn uniformly from every class."""

from __future__ import annotations

import numpy as np

__all__ = ["check_budget", "random_subset"]


def check_budget(y: np.ndarray, per_class: int) -> np.ndarray:
    """Classes of ``y`` (sorted); ValueError unless 1 <= per_class <= every class size."""
    if per_class < 1:
        raise ValueError(f"budget per class must be >= 1, got {per_class}")
    classes, counts = np.unique(y, return_counts=True)
    if per_class > counts.min():
        c = int(classes[np.argmin(counts)])
        raise ValueError(
            f"budget {per_class} per class exceeds class {c}, which has only "
            f"{int(counts.min())} points"
        )
    return classes


def random_subset(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Row indices, int64 (per_class * n_classes,), sorted, ``per_class`` of each class."""
    rng = np.random.default_rng(seed)
    out = [
        rng.choice(np.flatnonzero(y == c), size=per_class, replace=False)
        for c in check_budget(y, per_class)
    ]
    return np.sort(np.concatenate(out)).astype(np.int64)
