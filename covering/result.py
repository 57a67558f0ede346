"""The :class:`Cover` result and the :class:`CoverError` raised when a cover is invalid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Cover", "CoverError"]


class CoverError(ValueError):
    """Raised when a cover violates its guarantee (or is malformed)."""


@dataclass(frozen=True, eq=False)
class Cover:
    """A verified finite covering of a dataset.

    Every row ``i`` of ``X`` is assigned to the centre ``indices[assignment[i]]`` whose label
    equals its own and with ``d(X[i], X[indices[assignment[i]]]) <= eta``.

    Attributes
    ----------
    indices : ndarray of int64, shape (m,)
        Rows of ``X`` chosen as centres (unique, sorted ascending).
    weights : ndarray of int64, shape (m,)
        Number of rows assigned to each centre; ``weights.sum() == n``.
    assignment : ndarray of int64, shape (n,)
        For each row of ``X``, the position in ``indices`` of its centre.
    labels : ndarray of int64, shape (m,), or None
        Label of each centre (None for unlabelled data).
    eta : float
        Requested radius (budget mode: the achieved radius).
    radius : float
        Largest distance of a row to its centre; always ``<= eta``.
    metric, method : str
        Metric and method actually used (``method`` is resolved, never ``"auto"``).
    n, dim : int
        Shape of ``X``.
    lower_bound : int or None
        A certified lower bound on the size of any valid cover at this ``eta`` (same labels):
        the sum over classes of an exactly checked dual solution's value (LP, degree or
        packing bound), never a solver's unchecked claim.
    fingerprint : str
        ``"sha256:<hex>"`` of ``X`` (dtype, shape and C-contiguous bytes).
    labels_fingerprint : str or None
        The same for the labels array, when labels were given.
    distances : ndarray of float64, shape (n,)
        Exact distance of every row to its centre.
    k : int or None
        Centre budget in budget mode.
    dtype : str
        dtype of ``X`` (e.g. ``"float32"``).
    backend : str
        ``"cpu"`` or ``"gpu"``.
    seed : int
        Seed used by randomised steps.
    seconds : float
        Wall time of the computation.
    optimal : bool or None
        True when the size equals the certified ``lower_bound`` (proven optimal), False when
        an exact solve (MILP) ran without that proof (time limit, or a solver's claim that is
        not certified), None when no exact solver ran and the size is above the bound.
    notes : tuple of str
        Human-readable remarks (time limits hit, fallbacks taken).
    """

    indices: np.ndarray
    weights: np.ndarray
    assignment: np.ndarray
    labels: np.ndarray | None
    eta: float
    radius: float
    metric: str
    method: str
    n: int
    dim: int
    lower_bound: int | None
    fingerprint: str
    labels_fingerprint: str | None = None
    distances: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    k: int | None = None
    dtype: str = "float32"
    backend: str = "cpu"
    seed: int = 0
    seconds: float = 0.0
    optimal: bool | None = None
    notes: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Number of centres ``m``."""
        return int(self.indices.shape[0])

    def per_class(self) -> dict[str, dict[str, Any]]:
        """Size and radius per label (key ``"all"`` when unlabelled)."""
        if self.labels is None:
            return {"all": {"size": self.size, "radius": float(self.radius)}}
        point_labels = self.labels[self.assignment]
        out: dict[str, dict[str, Any]] = {}
        for lab in np.unique(self.labels):
            mask = point_labels == lab
            rad = float(self.distances[mask].max()) if self.distances.size and mask.any() else 0.0
            out[str(int(lab))] = {"size": int((self.labels == lab).sum()), "radius": rad}
        return out

    def summary(self) -> str:
        """One line: size, radius, lower bound, seconds."""
        lb = "n/a" if self.lower_bound is None else str(self.lower_bound)
        ratio = f" (x{self.size / self.lower_bound:.3f})" if self.lower_bound else ""
        return (
            f"size={self.size} n={self.n} radius={self.radius:.6g} eta={self.eta:.6g} "
            f"lower_bound={lb}{ratio} metric={self.metric} method={self.method} "
            f"seconds={self.seconds:.2f}"
        )
