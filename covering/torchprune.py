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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from covering.graph.ivf import IVF_KMEANS_ITERS, IVF_TRAIN_PER_LIST

__all__ = ["BLOCK_ROWS", "GROUP_ROWS", "Plan", "Tile", "chunk_rows", "make_plan"]

#: largest block (and about the k-means list size)
BLOCK_ROWS = 256
#: default most query rows of a group (whole blocks): a group's columns are the union of its
#: blocks' reach, so large groups save host round trips (a GPU is launch-bound) and may waste
#: pairs; a block joins a group only while that costs at most WASTE times computing it apart
GROUP_ROWS = 1024
WASTE = 1.25
#: most blocks a group may have (and how far back a block's reach is listed)
MAX_GROUP_BLOCKS = 64
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


def _assign(torch: Any, X: Any, cent: Any, budget: int, on_tile: TileFn) -> tuple[Any, Any, Any]:
    """Nearest centre (float32 L2) of every row of ``X``: int64 (m,), with the per-centre sums
    (float32 (k, d)) and counts (int64 (k,)) of the rows."""
    m, d, k = int(X.shape[0]), int(X.shape[1]), int(cent.shape[0])
    per_row = k * 4 + d * 4 + 8  # scores, the float32 rows, the assignment
    step = chunk_rows(budget, per_row, f"k-means over {k} lists")
    cn = (cent * cent).sum(dim=1)
    assign = torch.empty(m, dtype=torch.int64, device=X.device)
    sums = torch.zeros_like(cent)
    for s in range(0, m, step):
        x = X[s : s + step].float()
        on_tile(Tile("kmeans", int(x.shape[0]), k, int(x.shape[0]) * per_row))
        a = torch.addmm(cn[None, :], x, cent.T, alpha=-2.0).argmin(dim=1)
        assign[s : s + step] = a
        sums.index_add_(0, a, x)
        del x, a
    return assign, sums, torch.bincount(assign, minlength=k)


def _kmeans_order(
    torch: Any, W: Any, nlist: int, seed: int, budget: int, on_tile: TileFn
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``W`` (device (n, d)) sorted by list: ``IVF_KMEANS_ITERS`` float32 Lloyd
    iterations on a seeded sample of ``IVF_TRAIN_PER_LIST`` rows a list (as FAISS trains
    the CPU path's IVF), then every row assigned once. Returns the order (int64 (n,)) and the
    list sizes in it."""
    n = int(W.shape[0])
    rng = np.random.default_rng(seed)
    train = np.sort(rng.choice(n, size=min(n, IVF_TRAIN_PER_LIST * nlist), replace=False))
    T = W.index_select(0, torch.as_tensor(train, device=W.device))
    first = rng.choice(int(T.shape[0]), size=nlist, replace=False)
    cent = T.index_select(0, torch.as_tensor(first, device=W.device)).float()
    for _ in range(IVF_KMEANS_ITERS):
        _, sums, counts = _assign(torch, T, cent, budget, on_tile)
        filled = counts > 0
        cent[filled] = sums[filled] / counts[filled, None].to(cent.dtype)
    del T
    assign, _, _ = _assign(torch, W, cent, budget, on_tile)
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


def _block_reach(
    torch: Any,
    cent: Any,
    rad: Any,
    reach: float,
    p: float,
    budget: int,
    on_tile: TileFn,
) -> Iterator[tuple[int, np.ndarray]]:
    """For each block ``b`` in order, the blocks ``J >= b - MAX_GROUP_BLOCKS`` (ascending)
    with ``|c_b - c_J| <= r_b + r_J + reach``."""
    nb = int(cent.shape[0])
    step = chunk_rows(budget, (nb + 1) * 9, "the reach of a block")
    for b0 in range(0, nb, step):
        b1 = min(nb, b0 + step)
        lo = max(0, b0 - MAX_GROUP_BLOCKS)
        on_tile(Tile("reach", b1 - b0, nb - lo, (b1 - b0) * (nb - lo) * 9))
        dc = torch.cdist(cent[b0:b1], cent[lo:], p=p, compute_mode="donot_use_mm_for_euclid_dist")
        ok = dc <= rad[b0:b1, None] + rad[None, lo:] + reach
        rows, cols = (t.cpu().numpy() for t in ok.nonzero(as_tuple=True))
        del dc, ok
        cuts = np.searchsorted(rows, np.arange(1, b1 - b0))
        for i, c in enumerate(np.split(cols, cuts)):
            b = b0 + i
            yield b, lo + c[lo + c >= b - MAX_GROUP_BLOCKS]


def _group(
    bounds: np.ndarray,
    reach: Iterator[tuple[int, np.ndarray]],
    group_rows: int,
    max_frac: float,
    waste: float,
) -> tuple[np.ndarray, list[np.ndarray], float] | None:
    """Query groups of consecutive blocks: a block joins the group before it while the group
    stays within ``group_rows`` rows and ``MAX_GROUP_BLOCKS`` blocks and computing them
    together costs at most ``waste`` times computing them apart (so a group does not straddle
    two far-apart clusters). Returns the group bounds, each group's column blocks (from its
    first block on) and the fraction of the upper triangle's pairs they compute; None as soon
    as that fraction must exceed ``max_frac``."""
    lens = np.diff(bounds)
    n = int(bounds[-1])
    total = max(1.0, n * (n + 1) / 2)
    starts: list[int] = []
    lists: list[np.ndarray] = []
    scanned = 0
    g0, cur = 0, np.zeros(0, dtype=np.int64)

    def close(end: int) -> None:
        nonlocal scanned
        starts.append(g0)
        lists.append(cur)
        scanned += int(bounds[end] - bounds[g0]) * int(lens[cur].sum())

    for b, rb in reach:
        own = rb[rb >= b]
        if b == 0:
            cur = own
            continue
        merged = np.union1d(cur, rb[rb >= g0])
        rows_cur, rows_b = int(bounds[b] - bounds[g0]), int(lens[b])
        apart = rows_cur * int(lens[cur].sum()) + rows_b * int(lens[own].sum())
        together = (rows_cur + rows_b) * int(lens[merged].sum())
        if (
            rows_cur + rows_b <= group_rows
            and b - g0 < MAX_GROUP_BLOCKS
            and together <= waste * apart
        ):
            cur = merged
            continue
        close(b)
        if scanned > max_frac * total:
            return None
        g0, cur = b, own
    close(lens.shape[0])
    frac = scanned / total
    if frac > max_frac:
        return None
    return np.asarray([*starts, lens.shape[0]], dtype=np.int64), lists, frac


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
    waste: float = WASTE,
    max_frac: float = float("inf"),
) -> tuple[Plan | None, Any]:
    """The pruned plan of the rows ``W`` (device (n, d), input order), and ``W`` in its order;
    ``(None, W)`` when the plan would compute more than ``max_frac`` of the upper triangle's
    pairs (found out early, without listing them all).

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
        Most query rows per group.
    waste : float
        A block joins a group while that computes at most this multiple of the pairs.
    max_frac : float
        Give up beyond this fraction of the pairs.
    """
    n = int(W.shape[0])
    perm, sizes = _kmeans_order(torch, W, max(2, n // BLOCK_ROWS), seed, budget, on_tile)
    Wp = W.index_select(0, torch.as_tensor(perm, device=W.device))
    bounds = _blocks(sizes)
    p = float("inf") if linf else 2.0
    cent, rad = _balls(torch, Wp, bounds, p, budget, on_tile)
    top = float((torch.linalg.vector_norm(cent, ord=p, dim=1) + rad).max())  # >= any row norm
    # float64 rounding of the balls and distances, and the compute dtype's of the rows
    slack = 1e-6 * (top + R) + 4.0 * _U32 * top
    reach = _block_reach(torch, cent, rad, R + slack, p, budget, on_tile)
    got = _group(bounds, reach, group_rows, max_frac, waste)
    if got is None:
        return None, W
    groups, lists, frac = got
    return Plan(perm, bounds, groups, lists, frac), Wp
