"""The eta-graph built with PyTorch in blocked distance tiles (``backend="torch"``).

The graph equals :func:`covering.graph.eta_graph`'s edge set: the device only *proposes*
candidates, and every pair whose tile value lies within a proven error bound of the threshold
is decided by the engine's one float64 distance, :func:`covering.metrics.exact_distances`, on
the CPU, with the engine's one radius test, :func:`covering.metrics.within`.

How a class's rows ``Z`` (float64 (n, d), prepared) become a graph:

1. Constant columns are dropped (they add exactly zero to every distance), the rest centred
   and divided by a power of two (exact) to unit scale, and copied to the device in the
   compute precision (``float64`` on CUDA, where the H200's FP64 is fast and the error band
   is ~1e-13 wide; ``float32`` on CPU). TF32 is switched off for the duration of the call.
2. Tiles of at most ``tile_bytes`` device bytes (never n x n) compute FAISS's quantity
   (``|q|^2 + |c|^2 - 2<q, c>`` for L2 and cosine, ``max |q - c|`` for L-inf) for the pairs of
   the upper triangle (each unordered pair once). A pair whose value is below the threshold
   minus the bound (:meth:`covering.metrics.FaissView.pair_tolerance` scaled to the compute
   precision's unit round-off and doubled, plus :meth:`covering.metrics.FaissView.margin` for
   the canonical distance's own rounding) is an edge; above threshold plus bound it is not;
   in between it is decided exactly. Steps 1 and 2 are :mod:`covering.torchtiles`.
3. With ``index="ivf"`` (or ``"auto"`` on large classes when it pays) the rows are ordered by a
   few k-means iterations and cut into blocks of :data:`BLOCK_ROWS`; a block pair is computed
   only if the blocks' float64 bounding balls are within reach (triangle inequality with a
   rounding slack), which on clustered data skips almost every tile
   (:mod:`covering.torchprune`).
4. The kept upper-triangle pairs are mirrored with the diagonal added
   (:func:`covering.graph.mirror_upper`, as :func:`covering.selfjoin.self_graph` does), and
   mapped back to the input order.

Edge distances (``Graph.dist``) follow :class:`covering.graph.Graph`'s contract: exact where
the pair was decided exactly, the device value (within the bound) otherwise.

``import covering`` never imports torch: this module imports it inside its functions only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from covering.graph.csr import Graph, mirror_upper
from covering.graph.ivf import FLAT_MAX, IVF_MAX_SCAN, check_index
from covering.metrics import check_metric
from covering.torchprune import BLOCK_ROWS, Plan, Tile, TileFn, make_plan
from covering.torchtiles import Space, candidates, decide, make_space, pair_bytes

__all__ = [
    "BLOCK_ROWS",
    "EXTRA",
    "GROUP_ROWS",
    "TILE_BYTES",
    "Tile",
    "eta_graph_torch",
    "import_torch",
    "pair_bytes",
    "torch_cuda_available",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

#: the optional dependency that provides torch
EXTRA = "gpu-torch"
#: default device bytes a tile may use (read at each call: a process may set it)
TILE_BYTES = 1 << 30
#: query rows computed together in the flat plan (one host round trip each)
GROUP_ROWS = 2048
#: most query rows of a group of the pruned plan, and how many times the pairs of its blocks
#: apart a group may compute, on (a GPU, the CPU): a GPU is bound by launches and host round
#: trips, a CPU by arithmetic (see torchprune.GROUP_ROWS)
GROUP_ROWS_PRUNED = (1024, 512)
GROUP_WASTE = (3.0, 1.25)
#: one of these exists where an NVIDIA driver is (WSL: /dev/dxg)
_NVIDIA_PATHS = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/dxg")


def import_torch() -> Any:
    """``torch``, or a ``ValueError`` naming the extra that installs it."""
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"backend='torch' needs PyTorch: pip install 'covering[{EXTRA}]' "
            "(or covering[train], which also has it)"
        ) from None
    return torch


def torch_cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device.

    torch is only imported when it is installed and an NVIDIA driver is present (or it is
    already imported), so a CPU box does not pay torch's import time for ``backend="auto"``.
    """
    if sys.modules.get("torch") is None:
        try:
            if "torch" in sys.modules or importlib.util.find_spec("torch") is None:
                return False
        except (ImportError, ValueError):
            return False
        if not any(os.path.exists(p) for p in _NVIDIA_PATHS):
            return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover - broken CUDA installs
        return False


@contextlib.contextmanager
def _ieee_matmul(torch: Any) -> Iterator[None]:
    """TF32 off for CUDA matmul and cuDNN (and oneDNN's reduced float32 precision on CPU where
    torch has that switch), restored afterwards."""
    cuda, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    mkldnn: Any = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    cpu_old = getattr(mkldnn, "fp32_precision", None)
    old = (cuda.allow_tf32, cudnn.allow_tf32)
    cuda.allow_tf32 = False
    cudnn.allow_tf32 = False
    if cpu_old not in (None, "none", "ieee"):
        mkldnn.fp32_precision = "ieee"
    try:
        yield
    finally:
        cuda.allow_tf32, cudnn.allow_tf32 = old
        if cpu_old not in (None, "none", "ieee"):
            mkldnn.fp32_precision = cpu_old


def _unpermute(g: Graph, perm: np.ndarray) -> Graph:
    """``g`` over plan rows mapped back to input rows (``perm``: plan row -> input row)."""
    n = g.n_rows
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n, dtype=np.int64)
    deg = np.diff(g.indptr)[inv]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    src = np.repeat(g.indptr[:-1][inv] - indptr[:-1], deg)
    src += np.arange(src.shape[0], dtype=np.int64)
    return Graph(indptr, perm[g.indices[src]], g.dist[src], n, g.eta, symmetric=True)


def _plan(
    torch: Any, sp: Space, index: str, seed: int, budget: int, on_tile: TileFn
) -> Plan | None:
    """Order ``sp``'s rows for pruning (:func:`covering.torchprune.make_plan`); ``None``
    (rows unchanged) for the flat plan: ``index="flat"``, or ``"auto"`` on classes up to
    :data:`covering.graph.ivf.FLAT_MAX` rows or where the plan would compute more than
    :data:`covering.graph.ivf.IVF_MAX_SCAN` of the pairs."""
    n = int(sp.W.shape[0])
    if index == "flat" or n < 2 * BLOCK_ROWS or (index == "auto" and n <= FLAT_MAX):
        return None
    R = sp.thr + sp.tol if sp.linf else float(np.sqrt(sp.thr + sp.tol))
    on_cpu = int(sp.W.device.type == "cpu")
    max_frac = IVF_MAX_SCAN if index == "auto" else float("inf")
    plan, Wp = make_plan(
        torch,
        sp.W,
        R,
        sp.linf,
        seed,
        budget,
        on_tile,
        group_rows=GROUP_ROWS_PRUNED[on_cpu],
        waste=GROUP_WASTE[on_cpu],
        max_frac=max_frac,
    )
    if plan is None:
        log.debug("torch graph: pruning would compute over %.0f%% of the pairs", 100 * max_frac)
        return None
    log.debug("torch graph: the pruned plan computes %.1f%% of the pairs", 100 * plan.frac)
    pt = torch.as_tensor(plan.perm, device=sp.W.device)
    sp.W, sp.perm = Wp, plan.perm
    if sp.norms is not None:
        sp.norms, sp.sq = sp.norms.index_select(0, pt), sp.sq[plan.perm]
    return plan


def eta_graph_torch(
    Z: np.ndarray,
    eta: float,
    metric: str,
    *,
    device: str | None = None,
    precision: str = "auto",
    index: str = "auto",
    tile_bytes: int | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    on_tile: TileFn | None = None,
) -> Graph:
    """The eta-graph of the rows of ``Z``, computed with torch; equal to
    :func:`covering.graph.eta_graph`'s (same edge set, self-loops included).

    Parameters
    ----------
    Z : ndarray of float64, shape (n, d)
        Rows already :func:`covering.metrics.prepare`-d for ``metric``.
    eta : float
        Radius in metric units (> 0).
    metric : {"l2", "linf", "cosine"}
    device : str, optional
        A torch device (``"cuda"``, ``"cuda:1"``, ``"cpu"``); default CUDA when torch sees
        it, else the CPU.
    precision : {"auto", "float32", "float64"}
        Tile arithmetic; ``"auto"``: float64 on a GPU and for L-inf, float32 for L2 and cosine
        on the CPU. Only the width of the band decided exactly depends on it, never the graph.
    index : {"auto", "flat", "ivf"}
        ``"ivf"``: k-means order and bounding-ball pruning of block pairs; ``"flat"``: every
        pair of the upper triangle; ``"auto"``: pruning on classes above
        :data:`covering.graph.ivf.FLAT_MAX` rows when it skips enough pairs.
    tile_bytes : int, optional
        Device bytes one tile may use (worst case, :func:`pair_bytes` per pair; default the
        module's :data:`TILE_BYTES` at the time of the call); the rows
        themselves stay resident besides: n x d in the compute dtype (twice while the pruned
        plan reorders them), and O(n) norms, indices and balls.
    seed : int
        Seed of the k-means sample.
    progress : callable(done, total), optional
        Called after each query group and once more after the graph is assembled.
    on_tile : callable(Tile), optional
        Called before each device computation with its shape and worst-case bytes.

    Returns
    -------
    Graph
        Symmetric CSR over ``n`` rows; within a row, edges in no particular order.

    Raises
    ------
    ValueError
        torch is missing (naming the extra), bad arguments, or ``tile_bytes`` too small.
    """
    torch = import_torch()
    check_metric(metric)
    Z = np.asarray(Z)
    if Z.ndim != 2 or Z.dtype != np.float64:
        raise ValueError(f"Z must be a 2-D float64 array, got {Z.dtype} shape {Z.shape}")
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be a finite number > 0, got {eta!r}")
    check_index(index)
    if precision not in ("auto", "float32", "float64"):
        raise ValueError(f"unknown precision {precision!r}: expected auto, float32 or float64")
    budget = int(TILE_BYTES if tile_bytes is None else tile_bytes)
    if budget < 1:
        raise ValueError(f"tile_bytes must be >= 1, got {tile_bytes!r}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    # auto: float64 on a GPU (the H200's FP64 is fast; a ~1e-13 band) and for L-inf (torch's
    # float32 cdist is slower on CPU); float32 BLAS for L2 and cosine on the CPU
    f64 = precision == "float64" or (
        precision == "auto" and (dev.type != "cpu" or metric == "linf")
    )
    dtype = torch.float64 if f64 else torch.float32
    n = int(Z.shape[0])
    if n == 0:
        return Graph(np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0), 0, float(eta))
    record = on_tile if on_tile is not None else (lambda _t: None)
    with _ieee_matmul(torch):
        sp, scale = make_space(torch, Z, float(eta), metric, dev, dtype)
        plan = _plan(torch, sp, index, seed, budget, record)
        rows_u: list[np.ndarray] = []
        cols_u: list[np.ndarray] = []
        dist_u: list[np.ndarray] = []
        ngroups = -(-n // GROUP_ROWS) if plan is None else plan.groups.shape[0] - 1
        for gi in range(ngroups):
            if plan is None:
                s, e = gi * GROUP_ROWS, min(n, (gi + 1) * GROUP_ROWS)
                cols, contiguous = np.arange(s, n, dtype=np.int64), True
            else:
                (s, e), (cols, contiguous) = plan.rows(gi), plan.columns(gi)
            r, c, v = candidates(torch, sp, s, e, cols, contiguous, budget, record)
            r, c, d = decide(sp, Z, r, c, v, float(eta), metric, scale)
            rows_u.append(r)
            cols_u.append(c.astype(np.int32) if n < 2**31 else c)
            dist_u.append(d)
            del cols, r, c, v, d
            if progress is not None:
                progress(e, n)
        perm = sp.perm
        del sp
    g = mirror_upper(
        n,
        np.concatenate(rows_u) if rows_u else np.zeros(0, np.int64),
        np.concatenate(cols_u) if cols_u else np.zeros(0, np.int32),
        np.concatenate(dist_u) if dist_u else np.zeros(0),
        float(eta),
    )
    del rows_u, cols_u, dist_u
    if perm is not None:
        g = _unpermute(g, perm)
    if progress is not None:
        progress(n, n)
    return g
