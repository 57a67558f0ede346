"""Bounding-ball pruning of the torch eta-graph's tiles: the IVF idea, proven by the triangle
inequality.

The rows are ordered by a few k-means iterations (lists of about :data:`BLOCK_ROWS` rows) and
each list is cut into blocks of at most :data:`BLOCK_ROWS` consecutive rows, so a block never
straddles two lists. Every block gets a float64 bounding ball (centre: its mean; radius: its
rows' largest distance to it). A pair of rows within ``R`` of each other can only lie in blocks
``I``, ``J`` with ``|c_I - c_J| <= r_I + r_J + R``; a rounding ``slack`` is added, so no pair is
ever skipped that could be an edge, whatever the k-means found (its quality only decides how
much is skipped). Query rows are taken in groups of whole blocks (up to :data:`GROUP_ROWS`
rows); a group's columns are the blocks, from its first one on, that one of its balls reaches.

Used by :mod:`covering.torchgraph`; torch is passed in (this module never imports it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from covering.graph import IVF_KMEANS_ITERS

__all__ = ["BLOCK_ROWS", "GROUP_ROWS", "Plan", "Tile", "chunk_rows", "make_plan"]

#: largest block (and about the k-means list size)
BLOCK_ROWS = 256
#: default query rows of a group (whole blocks; a larger block alone may exceed it): a group's
#: columns are the union of its blocks' reach, so small groups waste fewer pairs and large
#: ones save host round trips (the CPU is compute-bound, a GPU launch-bound)
GROUP_ROWS = 1024
_U32 = 2.0**-24


@dataclass(frozen=True)
class Tile:
    """One device computation: ``rows`` x ``cols`` items, ``nbytes`` device bytes at most.

    ``kind`` is ``"dist"`` (a distance tile), ``"kmeans"`` (an assignment chunk: rows x
    lists), ``"balls"`` (a chunk of rows x dims) or ``"reach"`` (blocks x blocks).
    """

    kind: str
    rows: int
    cols: int
    nbytes: int


TileFn = Callable[[Tile], None]


def chunk_rows(budget: int, per_row: int, what: str) -> int:
    """Rows per chunk of a computation that costs ``per_row`` bytes a row within ``budget``.

    Raises
    ------
    ValueError
        Not even one row fits.
    """
    if per_row > budget:
        raise ValueError(f"tile_bytes={budget} is too small for {what}: needs {per_row} bytes")
    return budget // per_row


@dataclass(frozen=True)
class Plan:
    """A pruned order of the rows.

    Attributes
    ----------
    perm : ndarray of int64, shape (n,)
        Plan row -> input row.
    bounds : ndarray of int64, shape (nb + 1,)
        Block ``b`` is plan rows ``bounds[b]:bounds[b + 1]``.
    groups : ndarray of int64, shape (ng + 1,)
        Query group ``g`` is blocks ``groups[g]:groups[g + 1]``.
    lists : list of ndarray of int64
        Per group, the blocks (ascending, none before the group's first) its rows are
        compared with.
    frac : float
        Pairs these lists compute, as a fraction of the upper triangle's ``n (n + 1) / 2``.
    """

    perm: np.ndarray
    bounds: np.ndarray
    groups: np.ndarray
    lists: list[np.ndarray]
    frac: float

    def rows(self, g: int) -> tuple[int, int]:
        """Plan rows ``[s, e)`` of query group ``g``."""
        return int(self.bounds[self.groups[g]]), int(self.bounds[self.groups[g + 1]])

    def columns(self, g: int) -> tuple[np.ndarray, bool]:
        """Plan rows of group ``g``'s column blocks (int64, ascending), and whether they are
        one contiguous range (then a tile can slice the rows instead of gathering them)."""
        blocks = self.lists[g]
        starts, stops = self.bounds[blocks], self.bounds[blocks + 1]
        lens = stops - starts
        idx = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        return idx.astype(np.int64, copy=False), bool(np.all(starts[1:] == stops[:-1]))


def _kmeans_order(
    torch: Any, W: Any, nlist: int, seed: int, budget: int, on_tile: TileFn
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``W`` (device (n, d)) sorted by list after ``IVF_KMEANS_ITERS`` float32 Lloyd
    iterations from a seeded sample: the order (int64 (n,)) and the list sizes in it."""
    n, d = int(W.shape[0]), int(W.shape[1])
    rng = np.random.default_rng(seed)
    idx = torch.as_tensor(np.sort(rng.choice(n, size=nlist, replace=False)), device=W.device)
    cent = W.index_select(0, idx).float()
    per_row = nlist * 4 + d * 4 + 8  # scores, the float32 rows, the assignment
    step = chunk_rows(budget, per_row, f"k-means over {nlist} lists")
    assign = torch.empty(n, dtype=torch.int64, device=W.device)
    for it in range(IVF_KMEANS_ITERS + 1):
        cn = (cent * cent).sum(dim=1)
        sums = torch.zeros_like(cent)
        for s in range(0, n, step):
            x = W[s : s + step].float()
            on_tile(Tile("kmeans", int(x.shape[0]), nlist, int(x.shape[0]) * per_row))
            a = torch.addmm(cn[None, :], x, cent.T, alpha=-2.0).argmin(dim=1)
            assign[s : s + step] = a
            sums.index_add_(0, a, x)
            del x, a
        if it == IVF_KMEANS_ITERS:
            break
        counts = torch.bincount(assign, minlength=nlist)
        filled = counts > 0
        cent[filled] = sums[filled] / counts[filled, None].to(cent.dtype)
    lab = assign.cpu().numpy()
    sizes = np.bincount(lab, minlength=nlist)
    return np.argsort(lab, kind="stable"), sizes[sizes > 0]


def _blocks(sizes: np.ndarray) -> np.ndarray:
    """Block bounds (int64 (nb + 1,)): each list cut into near-equal blocks of at most
    ``BLOCK_ROWS`` rows."""
    parts = -(-sizes // BLOCK_ROWS)
    lens = np.repeat(sizes // parts, parts)
    extra = np.repeat(sizes % parts, parts)  # the first `extra` blocks of a list get one more
    first = np.repeat(np.cumsum(parts) - parts, parts)
    lens += (np.arange(lens.shape[0]) - first) < extra
    bounds = np.zeros(lens.shape[0] + 1, dtype=np.int64)
    np.cumsum(lens, out=bounds[1:])
    return bounds


def _groups(bounds: np.ndarray, group_rows: int) -> np.ndarray:
    """Group bounds over blocks: consecutive blocks while they fit ``group_rows`` rows."""
    out = [0]
    nb = bounds.shape[0] - 1
    while out[-1] < nb:
        b = int(np.searchsorted(bounds, bounds[out[-1]] + group_rows, side="right")) - 1
        out.append(min(nb, max(b, out[-1] + 1)))
    return np.asarray(out, dtype=np.int64)


def _balls(
    torch: Any, W: Any, bounds: np.ndarray, p: float, budget: int, on_tile: TileFn
) -> tuple[Any, Any]:
    """float64 centres (nb, d) and radii (nb,) of the blocks of ``W`` (plan order)."""
    n, d = int(W.shape[0]), int(W.shape[1])
    nb = bounds.shape[0] - 1
    lens = np.diff(bounds)
    bid = torch.as_tensor(np.repeat(np.arange(nb), lens), device=W.device)
    cent = torch.zeros((nb, d), dtype=torch.float64, device=W.device)
    rad = torch.zeros(nb, dtype=torch.float64, device=W.device)
    per_row = 3 * d * 8 + 16  # the float64 rows, their centres, the differences
    step = chunk_rows(budget, per_row, "the bounding balls")
    for s in range(0, n, step):
        on_tile(Tile("balls", min(step, n - s), d, min(step, n - s) * per_row))
        cent.index_add_(0, bid[s : s + step], W[s : s + step].double())
    cent /= torch.as_tensor(lens, dtype=torch.float64, device=W.device)[:, None]
    for s in range(0, n, step):
        on_tile(Tile("balls", min(step, n - s), d, min(step, n - s) * per_row))
        b = bid[s : s + step]
        x = W[s : s + step].double() - cent.index_select(0, b)
        rad.scatter_reduce_(0, b, torch.linalg.vector_norm(x, ord=p, dim=1), "amax")
        del x
    return cent, rad


def _reach(
    torch: Any,
    cent: Any,
    rad: Any,
    plan_groups: np.ndarray,
    bounds: np.ndarray,
    R: float,
    p: float,
    budget: int,
    on_tile: TileFn,
) -> tuple[list[np.ndarray], float]:
    """Each group's reachable blocks (from its first block on) and the fraction of pairs."""
    nb = bounds.shape[0] - 1
    n = int(bounds[-1])
    top = float((torch.linalg.vector_norm(cent, ord=p, dim=1) + rad).max())  # >= any row norm
    # float64 rounding of the balls and distances, and the compute dtype's of the rows
    slack = 1e-6 * (top + R) + 4.0 * _U32 * top
    lens = np.diff(bounds)
    lists: list[np.ndarray] = []
    scanned = 0
    for g in range(plan_groups.shape[0] - 1):
        g0, g1 = int(plan_groups[g]), int(plan_groups[g + 1])
        hit = np.zeros(nb - g0, dtype=bool)
        step = chunk_rows(budget, (g1 - g0) * 9, "the reach of a group of blocks")
        for c0 in range(g0, nb, step):
            c1 = min(nb, c0 + step)
            on_tile(Tile("reach", g1 - g0, c1 - c0, (g1 - g0) * (c1 - c0) * 9))
            dc = torch.cdist(
                cent[g0:g1], cent[c0:c1], p=p, compute_mode="donot_use_mm_for_euclid_dist"
            )
            ok = dc <= rad[g0:g1, None] + rad[None, c0:c1] + (R + slack)
            hit[c0 - g0 : c1 - g0] = ok.any(dim=0).cpu().numpy()
            del dc, ok
        blocks = g0 + np.flatnonzero(hit)
        lists.append(blocks)
        scanned += int(lens[blocks].sum()) * int(bounds[g1] - bounds[g0])
    return lists, scanned / max(1.0, n * (n + 1) / 2)


def make_plan(
    torch: Any,
    W: Any,
    R: float,
    linf: bool,
    seed: int,
    budget: int,
    on_tile: TileFn,
    *,
    group_rows: int = GROUP_ROWS,
) -> tuple[Plan, Any]:
    """The pruned plan of the rows ``W`` (device (n, d), input order), and ``W`` in its order.

    Parameters
    ----------
    torch : module
    W : tensor, shape (n, d)
        The rows in the compute dtype (float32 rows: their rounding is in the slack).
    R : float
        Largest distance (L2, or L-inf with ``linf``) between two rows that may be an edge.
    linf : bool
    seed : int
        Seed of the k-means sample.
    budget : int
        Device bytes per chunk.
    on_tile : callable(Tile)
    group_rows : int
        Query rows per group.
    """
    n = int(W.shape[0])
    perm, sizes = _kmeans_order(torch, W, max(2, n // BLOCK_ROWS), seed, budget, on_tile)
    Wp = W.index_select(0, torch.as_tensor(perm, device=W.device))
    bounds = _blocks(sizes)
    groups = _groups(bounds, group_rows)
    p = float("inf") if linf else 2.0
    cent, rad = _balls(torch, Wp, bounds, p, budget, on_tile)
    lists, frac = _reach(torch, cent, rad, groups, bounds, R, p, budget, on_tile)
    return Plan(perm, bounds, groups, lists, frac), Wp
