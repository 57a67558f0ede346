"""Sparse eta-neighbour graphs, built with FAISS in blocks and re-checked exactly.

A :class:`Graph` is a CSR adjacency: row ``i`` (a point to cover) lists the columns ``j`` (the
candidate centres) with ``d(Q[i], C[j]) <= eta``. FAISS proposes candidates in float32 with a
slightly inflated radius; every edge whose FAISS value lies within the float32 error bound of the
threshold is re-computed with the canonical float64 distance
(:func:`covering.metrics.exact_distances`), and FAISS's value decides the others only where it is
provably on the same side as the canonical one, so the edge set is exactly the canonical
eta-graph: ``(i, j)`` is an edge iff ``within(exact_distances(Q[i], C[j]), eta)``.

Modules:

- :mod:`~covering.graph.csr`: the :class:`Graph` itself (a leaf: no FAISS, no metric);
- :mod:`~covering.graph.exact`: the float32 helpers and the exact decision of FAISS's
  candidates (:func:`exact_edges`);
- :mod:`~covering.graph.ivf`: the choice of FAISS index and the IVF's exact list pruning;
- :mod:`~covering.graph.rangeindex`: exact range queries (:class:`RangeIndex`,
  :func:`neighbours`);
- :mod:`~covering.graph.build`: the one place that chooses a builder (:func:`build_graph`:
  FAISS on the CPU, flat, IVF or the self-join of :mod:`covering.selfjoin`; FAISS on a GPU,
  :mod:`covering.gpu`; torch, :mod:`covering.torchgraph`).
"""

from __future__ import annotations

from typing import Any

from covering.graph.build import BACKENDS, build_graph, eta_graph, resolve_backend
from covering.graph.csr import Graph, ensure_self_loops, mirror_upper
from covering.graph.exact import exact_edges, f32_above, f32_below, to_float32
from covering.graph.ivf import DENSE_REACH as DENSE_REACH
from covering.graph.ivf import FLAT_MAX as FLAT_MAX
from covering.graph.ivf import IVF_KMEANS_ITERS as IVF_KMEANS_ITERS
from covering.graph.ivf import IVF_LIST_SIZE as IVF_LIST_SIZE
from covering.graph.ivf import IVF_MAX_SCAN as IVF_MAX_SCAN
from covering.graph.ivf import IVF_TRAIN_PER_LIST as IVF_TRAIN_PER_LIST
from covering.graph.ivf import make_index
from covering.graph.rangeindex import BLOCK as BLOCK
from covering.graph.rangeindex import RangeIndex, neighbours

__all__ = [
    "BACKENDS",
    "Graph",
    "RangeIndex",
    "build_graph",
    "ensure_self_loops",
    "eta_graph",
    "exact_edges",
    "f32_above",
    "f32_below",
    "gpu_available",
    "make_index",
    "mirror_upper",
    "neighbours",
    "resolve_backend",
    "to_float32",
]


def __getattr__(name: str) -> Any:
    """``gpu_available`` lives with the GPU code (:func:`covering.gpu.gpu_available`); it is
    looked up there on first use, since :mod:`covering.gpu` itself imports this package."""
    if name == "gpu_available":
        from covering.gpu import gpu_available

        return gpu_available
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
