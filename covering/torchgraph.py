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
   in between it is decided exactly.
3. With ``index="ivf"`` (or ``"auto"`` on large classes when it pays) the rows are ordered by a
   few k-means iterations and cut into blocks of :data:`BLOCK_ROWS`; a block pair is computed
   only if the blocks' float64 bounding balls are within reach (triangle inequality with a
   rounding slack), which on clustered data skips almost every tile.
4. The kept upper-triangle pairs are mirrored with the diagonal added
   (:func:`covering.selfjoin` does the same), and mapped back to the input order.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from covering.graph import FLAT_MAX, IVF_MAX_SCAN, Graph, f32_above, f32_below
from covering.metrics import FaissView, check_metric, exact_distances, span_scale, within
from covering.selfjoin import _symmetric
from covering.torchprune import BLOCK_ROWS, Plan, Tile, TileFn, make_plan

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
#: safety factor on the proven error bound (the band is re-decided exactly: only cost)
SAFETY = 2.0
_U32 = 2.0**-24
_U64 = 2.0**-53
#: one of these exists where an NVIDIA driver is (WSL: /dev/dxg)
_NVIDIA_PATHS = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/dxg")


def pair_bytes(itemsize: int) -> int:
    """Worst-case device bytes per pair of a distance tile of ``itemsize``-byte floats.

    The value (``itemsize``), three boolean masks (candidate, upper triangle and its
    comparison), and when every pair is a candidate its ``nonzero`` position (two int64), its
    gathered value (``itemsize``) and 16 bytes of indexing temporaries."""
    return 2 * itemsize + 3 + 32


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


def _centred(torch: Any, Z: np.ndarray, metric: str, device: Any) -> tuple[Any, float]:
    """Varying columns of ``Z`` on the device, centred and divided by a power of two (exact):
    a float64 tensor (n, d') of the device's own; and the power of two."""
    W = torch.from_numpy(np.ascontiguousarray(Z)).to(device=device, copy=True)
    hi, lo = W.amax(dim=0), W.amin(dim=0)
    varying = torch.nonzero(hi != lo).flatten()
    if int(varying.numel()) == 0:  # all rows equal: one zero column keeps the shapes valid
        return torch.zeros((Z.shape[0], 1), dtype=torch.float64, device=device), 1.0
    if int(varying.numel()) < Z.shape[1]:
        W, hi, lo = W.index_select(1, varying), hi[varying], lo[varying]
    mean = W.mean(dim=0)
    W -= mean
    if metric == "cosine":
        return W, 1.0
    scale = span_scale(hi.cpu().numpy(), lo.cpu().numpy(), mean.cpu().numpy())
    W /= scale
    return W, scale


@dataclass
class _Space:
    """The rows on the device (in plan order) and the thresholds, in compute units."""

    W: Any  # tensor (n, d') on the device, compute dtype, plan order
    norms: Any  # tensor (n,): squared norms of W's rows, compute dtype (L2 view)
    sq: np.ndarray  # float64 (n,): squared norms of W's values, plan order (L2 view)
    perm: np.ndarray | None  # plan row -> input row (None: identity)
    thr: float
    tol: float  # the bound at the largest norms
    unit: float  # unit round-off of the compute dtype / float32's
    extra: float  # added to every bound: FaissView.margin, the canonical distance's rounding
    linf: bool

    def pair_tol(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The bound for plan rows ``a`` and ``b`` (int64 (e,)) at their own norms."""
        dim = int(self.W.shape[1])
        bound = FaissView.pair_tolerance(self.sq[a], self.sq[b], dim)
        return SAFETY * self.unit * bound + self.extra


def _tile_shape(budget: int, rows: int, ncols: int, per_pair: int, per_col: int) -> tuple[int, int]:
    """(rows, cols) of a distance tile within ``budget`` bytes: ``rows`` rows if the tile can
    still have 64 columns (or all ``ncols``), else fewer rows."""

    def cols_for(r: int) -> int:
        return budget // (r * per_pair + per_col)

    r = rows
    while r > 1 and cols_for(r) < min(ncols, 64):
        r = max(1, r // 2)
    c = min(ncols, cols_for(r))
    if c < 1:
        raise ValueError(
            f"tile_bytes={budget} is too small: one pair needs {per_pair + per_col} bytes"
        )
    return r, c


def _above(x: float, item: int) -> float:
    """The compute-dtype float just above ``x``, as a Python float."""
    return float(f32_above(x)) if item == 4 else float(np.nextafter(x, np.inf))


def _below(x: float, item: int) -> float:
    """The compute-dtype float just below ``x``, as a Python float."""
    return float(f32_below(x)) if item == 4 else float(np.nextafter(x, -np.inf))


def _candidates(
    torch: Any,
    sp: _Space,
    s: int,
    e: int,
    cols: np.ndarray,
    contiguous: bool,
    budget: int,
    on_tile: TileFn,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` of plan rows, ``s <= i < e``, ``j`` in ``cols`` (int64, ascending;
    ``contiguous``: one range), ``j > i``, whose tile value is at most the threshold plus the
    bound.

    Returns rows (int64, ascending), columns (int64, ascending within a row) and the tile
    values (float64), on the host."""
    W, norms, dev = sp.W, sp.norms, sp.W.device
    item = W.element_size()
    per_pair = pair_bytes(item)
    per_col = 0 if contiguous else int(W.shape[1]) * item
    ncols = int(cols.shape[0])
    r, c = _tile_shape(budget, e - s, ncols, per_pair, per_col)
    radius = _above(sp.thr + sp.tol, item)
    out_r: list[np.ndarray] = []
    out_c: list[np.ndarray] = []
    out_v: list[np.ndarray] = []
    for r0 in range(s, e, r):
        r1 = min(e, r0 + r)
        q = W[r0:r1]
        for c0 in range(0, ncols, c):
            chunk = cols[c0 : c0 + c]
            lo, hi, k = int(chunk[0]), int(chunk[-1]), int(chunk.shape[0])
            if hi <= r0:
                continue  # every pair is on or below the diagonal
            on_tile(Tile("dist", r1 - r0, k, (r1 - r0) * k * per_pair + k * per_col))
            if contiguous:
                x, ci = W[lo : hi + 1], None
            else:
                ci = torch.as_tensor(chunk, device=dev)
                x = W.index_select(0, ci)
            if sp.linf:
                D = torch.cdist(q, x, p=float("inf"))
            else:
                xn = norms[lo : hi + 1] if ci is None else norms.index_select(0, ci)
                D = torch.addmm(xn[None, :], q, x.T, alpha=-2.0)
                D += norms[r0:r1, None]
            mask = radius >= D
            if lo < r1:  # the tile reaches the diagonal: upper triangle only
                at = torch.arange(lo, hi + 1, device=dev) if ci is None else ci
                mask &= at[None, :] > torch.arange(r0, r1, device=dev)[:, None]
            pos = mask.nonzero()
            del mask
            vals = D[pos[:, 0], pos[:, 1]].double().cpu().numpy()
            del D, x, ci
            at_host = pos.cpu().numpy()
            del pos
            out_r.append(at_host[:, 0] + r0)
            out_c.append(chunk[at_host[:, 1]])
            out_v.append(vals)
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    rr, cc, vv = np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v)
    if len(out_r) > 1:  # several column chunks: back to row order (stable: columns ascend)
        order = np.argsort(rr, kind="stable")
        rr, cc, vv = rr[order], cc[order], vv[order]
    return rr.astype(np.int64, copy=False), cc.astype(np.int64, copy=False), vv


def _decide(
    sp: _Space,
    Z: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    eta: float,
    metric: str,
    scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates that are edges, and their distances (metric units).

    Values below the threshold minus the bound are edges; the rest are refined with the bound
    at each pair's own norms (L2 view) and the pairs still within it decided by
    :func:`covering.metrics.exact_distances` on the input rows, oriented (lower, higher
    input row) as :func:`covering.selfjoin.self_graph` does."""
    view = FaissView.of(metric)
    item = sp.W.element_size()
    keep = vals <= _below(sp.thr - sp.tol, item)
    dist = view.from_faiss(vals) * scale
    band = np.flatnonzero(~keep)
    if band.size and not sp.linf:
        t = sp.pair_tol(rows[band], cols[band])
        vb = vals[band]
        keep[band] = vb < sp.thr - t
        band = band[(vb >= sp.thr - t) & (vb <= sp.thr + t)]
    if band.size:
        a, b = rows[band], cols[band]
        if sp.perm is not None:
            a, b = sp.perm[a], sp.perm[b]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        exact = exact_distances(Z[lo], Z[hi], metric)
        dist[band] = exact
        keep[band] = within(exact, eta)
    return rows[keep], cols[keep], dist[keep]


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


def _space(
    torch: Any, Z: np.ndarray, eta: float, metric: str, device: Any, dtype: Any
) -> tuple[_Space, float]:
    """The rows on the device (input order) with their thresholds and bounds; and the power
    of two the centred rows were divided by."""
    W, scale = _centred(torch, Z, metric, device)
    view = FaissView.of(metric)
    f32 = dtype == torch.float32
    if f32:
        W = W.to(torch.float32)
    n, dim = int(W.shape[0]), int(W.shape[1])
    unit = 1.0 if f32 else _U64 / _U32
    thr = view.to_faiss(eta / scale)
    # the canonical float64 distance's own rounding near the threshold (for cosine it covers
    # unit rows being unit only to float64 precision too): a pair decided without it is
    # decided as the canonical distance would
    extra = view.margin(thr, Z.shape[1])
    linf = view.faiss_metric == "linf"
    norms, sq = None, np.zeros(0)
    if linf:  # the bound at the largest coordinate (FaissView.tolerance's, on one value)
        bound = view.tolerance(np.array([[float(W.abs().max())]]), dim)
    else:  # squared norms, in the compute dtype and in float64, a chunk of rows at a time
        norms = torch.empty(n, dtype=W.dtype, device=device)
        sq64 = torch.empty(n, dtype=torch.float64, device=device)
        for s in range(0, n, 1 << 16):
            x = W[s : s + (1 << 16)]
            norms[s : s + (1 << 16)] = (x * x).sum(dim=1)
            x = x.double()
            sq64[s : s + (1 << 16)] = (x * x).sum(dim=1)
        sq = sq64.cpu().numpy()
        del sq64
        top = np.array(sq.max())
        bound = float(FaissView.pair_tolerance(top, top, dim))  # = FaissView.tolerance
    sp = _Space(
        W=W,
        norms=norms,
        sq=sq,
        perm=None,
        thr=thr,
        tol=SAFETY * unit * bound + extra,
        unit=unit,
        extra=extra,
        linf=linf,
    )
    return sp, scale


def _plan(
    torch: Any, sp: _Space, index: str, seed: int, budget: int, on_tile: TileFn
) -> Plan | None:
    """Order ``sp``'s rows for pruning (:func:`covering.torchprune.make_plan`); ``None``
    (rows unchanged) for the flat plan: ``index="flat"``, or ``"auto"`` on classes up to
    :data:`covering.graph.FLAT_MAX` rows or where the plan would compute more than
    :data:`covering.graph.IVF_MAX_SCAN` of the pairs."""
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
        :data:`covering.graph.FLAT_MAX` rows when it skips enough pairs.
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
    if index not in ("auto", "flat", "ivf"):
        raise ValueError(f"unknown index {index!r}: expected auto, flat or ivf")
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
        sp, scale = _space(torch, Z, float(eta), metric, dev, dtype)
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
            r, c, v = _candidates(torch, sp, s, e, cols, contiguous, budget, record)
            r, c, d = _decide(sp, Z, r, c, v, float(eta), metric, scale)
            rows_u.append(r)
            cols_u.append(c.astype(np.int32) if n < 2**31 else c)
            dist_u.append(d)
            del cols, r, c, v, d
            if progress is not None:
                progress(e, n)
        perm = sp.perm
        del sp
    g = _symmetric(
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
