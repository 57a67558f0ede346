"""The one place that chooses how an eta-graph is built.

:func:`build_graph` takes a backend (:data:`BACKENDS`; :func:`resolve_backend` turns ``"auto"``
into the one this machine has): ``"gpu"`` (FAISS GPU k-NN, :mod:`covering.gpu`), ``"torch"``
(distance tiles, :mod:`covering.torchgraph`) or ``"cpu"``, where :func:`eta_graph` picks the
FAISS path: the upper-triangle self-join (:func:`covering.selfjoin.self_graph`) where brute force
is the right index, else a range search (:func:`covering.graph.neighbours`, flat or IVF).
Every builder returns the same graph: the canonical eta-graph of the rows.

The GPU and torch modules are imported only when they are used (neither is needed on a CPU
box, and torch is an optional extra).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from covering.graph.csr import Graph, ensure_self_loops
from covering.graph.ivf import index_kind
from covering.graph.rangeindex import neighbours
from covering.metrics import FaissView
from covering.selfjoin import self_graph

__all__ = ["BACKENDS", "build_graph", "eta_graph", "resolve_backend"]

ProgressFn = Callable[[int, int], None]

#: the backends a caller may ask for
BACKENDS = ("auto", "cpu", "gpu", "torch")


def resolve_backend(backend: str) -> str:
    """The backend :func:`build_graph` is to use for ``backend`` (one of :data:`BACKENDS`).

    ``"auto"``: ``"gpu"`` when FAISS sees a GPU, else ``"torch"`` when torch sees CUDA, else
    ``"cpu"``.

    Raises
    ------
    ValueError
        ``"gpu"`` without a GPU FAISS sees, or ``"torch"`` without torch (naming the extra).
    """
    from covering.gpu import gpu_available

    if backend == "gpu":
        if not gpu_available():
            raise ValueError(
                "backend='gpu' but FAISS sees no GPU (install covering[gpu] on a "
                "CUDA machine, or use backend='cpu')"
            )
        return "gpu"
    if backend == "torch":
        from covering.torchgraph import import_torch

        import_torch()  # a ValueError naming the extra when torch is missing
        return "torch"
    if backend == "auto" and gpu_available():
        return "gpu"
    if backend == "auto":
        from covering.torchgraph import torch_cuda_available

        if torch_cuda_available():
            return "torch"
    return "cpu"


def eta_graph(
    Z: np.ndarray,
    eta: float,
    metric: str,
    *,
    index: str = "auto",
    progress: ProgressFn | None = None,
    seed: int = 0,
) -> Graph:
    """The eta-graph of the rows of ``Z`` (float64 (n, d), prepared); self-loops kept.

    Where brute force is the right index (``index="flat"``, or ``"auto"`` on a small or dense
    set) and the metric is L2 or cosine, the symmetric upper-triangle search of
    :func:`covering.selfjoin.self_graph` does half the work (rows then list their edges by
    column); otherwise :func:`covering.graph.neighbours` (``sort=False``: within a row, FAISS's
    order).
    """
    if (
        FaissView.of(metric).faiss_metric == "l2"
        and index_kind(Z, metric, index, eta, seed) == "flat"
    ):
        return self_graph(Z, eta, metric, progress=progress)
    g = neighbours(Z, Z, eta, metric, index=index, progress=progress, seed=seed, sort=False)
    return ensure_self_loops(g)


def build_graph(
    Z: np.ndarray,
    eta: float,
    metric: str,
    *,
    backend: str = "cpu",
    index: str = "auto",
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> Graph:
    """The exact eta-graph of the rows of ``Z`` (float64 (n, d), prepared for ``metric`` by
    :func:`covering.metrics.prepare`) at radius ``eta``, built by ``backend``.

    Parameters
    ----------
    backend : {"cpu", "gpu", "torch"}
        A resolved backend (:func:`resolve_backend`): ``"gpu"``:
        :func:`covering.gpu.eta_graph_gpu`; ``"torch"``:
        :func:`covering.torchgraph.eta_graph_torch`; otherwise :func:`eta_graph`.
    index : {"auto", "flat", "ivf"}
        The index of the CPU path (and the torch backend's pruning); the GPU path has none.
    seed : int
        Seed of the index's k-means (CPU and torch).
    progress : callable(done, total), optional
        Rows done so far.

    Returns
    -------
    Graph
        Self-loops included; the same edges whatever the backend (the canonical eta-graph).
    """
    if backend == "gpu":
        from covering.gpu import eta_graph_gpu

        return eta_graph_gpu(Z, eta, metric, progress=progress)
    if backend == "torch":
        from covering.torchgraph import eta_graph_torch

        return eta_graph_torch(Z, eta, metric, index=index, progress=progress, seed=seed)
    return eta_graph(Z, eta, metric, index=index, progress=progress, seed=seed)
