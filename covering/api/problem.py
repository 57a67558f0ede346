"""What a method is given for one class (:class:`ClassProblem`) and what it returns
(:class:`ClassResult`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from covering.graph.build import build_graph
from covering.graph.csr import Graph
from covering.result import CoverError

__all__ = ["ClassProblem", "ClassResult", "Method", "assign_from_graph"]


@dataclass(frozen=True)
class ClassProblem:
    """One class to cover at radius ``eta``.

    Attributes
    ----------
    Z : ndarray of float64, shape (n, d)
        The class's rows, prepared for ``metric`` (:func:`covering.metrics.prepare`).
    eta : float
    metric : str
    method : str
        The name the method was asked for by (one solver may serve several names).
    seed : int
    time_limit : float or None
        Seconds of MILP time (None: the method's default).
    bound : bool
        A proven lower bound was asked for.
    index : str
        The index of the graph (:func:`covering.graph.build_graph`).
    backend : str
        The resolved graph backend.
    progress : callable(done, total), optional
        Progress of the graph's construction.
    """

    Z: np.ndarray
    eta: float
    metric: str
    method: str
    seed: int
    time_limit: float | None
    bound: bool
    index: str
    backend: str
    progress: Callable[[int, int], None] | None = None

    def graph(self) -> Graph:
        """The exact eta-graph of the class (:func:`covering.graph.build_graph`)."""
        return build_graph(
            self.Z,
            self.eta,
            self.metric,
            backend=self.backend,
            index=self.index,
            seed=self.seed,
            progress=self.progress,
        )


@dataclass
class ClassResult:
    """A cover of one class; indices are rows of the class.

    Attributes
    ----------
    centres : ndarray of int64, shape (m,)
    centre_of : ndarray of int64, shape (n,)
        The centre (a row of the class) of each row.
    lower_bound : int or None
        A proven lower bound on the class's optimal size.
    optimal : bool or None
        True only when the size equals a proven lower bound.
    notes : list of str
    method : str
        What ran (``"greedy+milp"`` for ``auto`` with a MILP polish).
    """

    centres: np.ndarray
    centre_of: np.ndarray
    lower_bound: int | None
    optimal: bool | None
    notes: list[str] = field(default_factory=list)
    method: str = ""


#: a method: one class in, its cover out
Method = Callable[[ClassProblem], ClassResult]


def assign_from_graph(g: Graph, centres: np.ndarray) -> np.ndarray:
    """Local row of the nearest chosen centre the graph knows, for every row.

    O(edges to chosen centres) memory; ties go to the earlier edge of the row."""
    mark = np.zeros(g.n_cols, dtype=bool)
    mark[centres] = True
    hit = np.flatnonzero(mark[g.indices])
    rows = np.searchsorted(g.indptr, hit, side="right") - 1
    order = np.lexsort((g.dist[hit], rows))
    rows = rows[order]
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else rows
    if first.shape[0] != g.n_rows:
        raise CoverError("internal error: a row has no chosen centre in its neighbourhood")
    return g.indices[hit[order[first]]].astype(np.int64)
