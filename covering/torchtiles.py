"""The distance tiles of the torch eta-graph: the rows on the device, the tiles, the exact decision.

1. Constant columns are dropped (they add exactly zero to every distance), the rest centred
   and divided by a power of two (exact) to unit scale, and copied to the device in the
   compute precision (:func:`make_space`).
2. Tiles of at most ``budget`` device bytes (never n x n) compute FAISS's quantity
   (``|q|^2 + |c|^2 - 2<q, c>`` for L2 and cosine, ``max |q - c|`` for L-inf) for the pairs of
   the upper triangle (each unordered pair once, :func:`candidates`). A pair whose value is
   below the threshold minus the bound (:meth:`covering.metrics.FaissView.pair_tolerance`
   scaled to the compute precision's unit round-off and doubled, plus
   :meth:`covering.metrics.FaissView.margin` for the canonical distance's own rounding) is an
   edge; above threshold plus bound it is not; in between it is decided exactly
   (:func:`decide`).

Used by :mod:`covering.torchgraph`; torch is passed in (this module never imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from covering.graph.exact import f32_above, f32_below
from covering.metrics import FaissView, exact_distances, span_scale, within
from covering.torchprune import Tile, TileFn

__all__ = ["SAFETY", "Space", "candidates", "decide", "make_space", "pair_bytes"]

#: safety factor on the proven error bound (the band is re-decided exactly: only cost)
SAFETY = 2.0
_U32 = 2.0**-24
_U64 = 2.0**-53


def pair_bytes(itemsize: int) -> int:
    """Worst-case device bytes per pair of a distance tile of ``itemsize``-byte floats.

    The value (``itemsize``), three boolean masks (candidate, upper triangle and its
    comparison), and when every pair is a candidate its ``nonzero`` position (two int64), its
    gathered value (``itemsize``) and 16 bytes of indexing temporaries."""
    return 2 * itemsize + 3 + 32


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
class Space:
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


def candidates(
    torch: Any,
    sp: Space,
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


def decide(
    sp: Space,
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


def make_space(
    torch: Any, Z: np.ndarray, eta: float, metric: str, device: Any, dtype: Any
) -> tuple[Space, float]:
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
    sp = Space(
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
