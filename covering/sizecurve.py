"""The result of :func:`covering.size_curve`: greedy cover sizes against the radius."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SizeCurve"]


@dataclass(frozen=True)
class SizeCurve:
    """Greedy cover sizes over a range of radii.

    Attributes
    ----------
    etas : ndarray of float64, shape (m,)
        Radii, ascending.
    sizes : ndarray of int64, shape (m,)
        Size of the greedy cover at each radius (all classes).
    class_sizes : ndarray of int64, shape (c, m)
        The same per class (one row, ``classes == [-1]``, without labels).
    classes : ndarray of int64, shape (c,)
        Label of each row of ``class_sizes``.
    class_counts : ndarray of int64, shape (c,)
        Rows per class.
    n : int
    metric : str
    seconds : float
    """

    etas: np.ndarray
    sizes: np.ndarray
    class_sizes: np.ndarray
    classes: np.ndarray
    class_counts: np.ndarray
    n: int
    metric: str
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def eta_for(self, size: int) -> float | None:
        """The smallest radius of the curve whose cover has at most ``size`` centres (None if
        none has)."""
        ok = np.flatnonzero(self.sizes <= size)
        return float(self.etas[ok[0]]) if ok.size else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists of numbers)."""
        return {
            "n": self.n,
            "metric": self.metric,
            "etas": [float(e) for e in self.etas],
            "sizes": [int(s) for s in self.sizes],
            "fractions": [float(s) / self.n for s in self.sizes],
            "classes": [int(c) for c in self.classes],
            "class_counts": [int(c) for c in self.class_counts],
            "class_sizes": [[int(s) for s in row] for row in self.class_sizes],
            "seconds": float(self.seconds),
            "notes": list(self.notes),
        }
