"""Budget mode: at most ``k`` centres with the smallest radius found.

Farthest-first traversal (Gonzalez 1985; the k-center greedy of Sener & Savarese) gives a radius
``r_ff`` within 2x of the optimal k-center radius. The radius is then shrunk by bisection on eta
in ``[r_ff / 2, r_ff]`` with the greedy set-cover solver on the exact eta-graph, and any budget
left over is spent by continuing farthest-first from the resulting centres.

With classes, :func:`allocate_budget` splits ``k`` by running farthest-first over all classes at
once (each step serves the class whose farthest row is farthest): the largest radius over the
classes is then within 2x of the best label-respecting k-center radius, whatever the classes'
sizes and spreads.
"""

from __future__ import annotations

import heapq
import logging

import numpy as np

from covering.graph import neighbours
from covering.metrics import exact_distances, within
from covering.solvers.greedy import greedy_cover

__all__ = ["allocate_budget", "farthest_first", "kcenter_cover"]

log = logging.getLogger(__name__)

#: the bisection is skipped when the eta-graph at r_ff would exceed this many edges
EDGE_CAP = 20_000_000


def _first_row(n: int, seed: int) -> int:
    """The row farthest-first starts from when no start is given."""
    return int(np.random.default_rng(seed).integers(n))


def _dist_to(Z: np.ndarray, c: np.ndarray, metric: str) -> np.ndarray:
    """Canonical distances of the rows of ``Z`` to the row ``c`` (same bits as any other
    :func:`covering.metrics.exact_distances` of these pairs)."""
    return exact_distances(Z, np.broadcast_to(c, Z.shape), metric)


def farthest_first(
    Z: np.ndarray,
    k: int,
    metric: str,
    *,
    seed: int = 0,
    start: np.ndarray | None = None,
    target: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Farthest-first traversal.

    Parameters
    ----------
    Z : ndarray of float64, shape (n, d), prepared
    k : int
        Maximum number of centres in total (including ``start``).
    start : ndarray of int64, optional
        Centres already chosen; default: one row drawn with ``seed``.
    target : float, optional
        Stop as soon as every row is within ``target`` of a centre.

    Returns
    -------
    centres : ndarray of int64, shape (m,), in the order chosen
    nearest : ndarray of int64, shape (n,), position in ``centres`` of each row's nearest
    dist : ndarray of float64, shape (n,), exact distance to it
    """
    n = Z.shape[0]
    if start is None or len(start) == 0:
        start = np.array([_first_row(n, seed)], dtype=np.int64)
    centres = [int(c) for c in start]
    dist = np.full(n, np.inf)
    nearest = np.zeros(n, dtype=np.int64)
    for pos, c in enumerate(centres):
        d = _dist_to(Z, Z[c], metric)
        d[c] = 0.0  # rounding (cosine: 1 - <c, c>) must never make a centre look uncovered
        better = d < dist
        dist[better], nearest[better] = d[better], pos
    while len(centres) < min(k, n):
        far = int(np.argmax(dist))
        if dist[far] <= 0 or (target is not None and bool(within(dist[far], target))):
            break
        centres.append(far)
        d = _dist_to(Z, Z[far], metric)
        d[far] = 0.0
        better = d < dist
        dist[better], nearest[better] = d[better], len(centres) - 1
    return np.asarray(centres, dtype=np.int64), nearest, dist


def allocate_budget(Zs: list[np.ndarray], k: int, metric: str, *, seed: int = 0) -> np.ndarray:
    """Centres per class for a budget of ``k`` in all (>= 1 each, sum <= k).

    Farthest-first over the union of the classes, distances between classes being infinite:
    every class starts from the row :func:`farthest_first` starts from (same ``seed``), then
    each step adds the farthest row of the class whose farthest row is farthest. Running
    :func:`farthest_first` on each class with its share retraces these steps, so the
    largest class radius is at most the traversal's (within 2x of optimal).

    Parameters
    ----------
    Zs : list of ndarray of float64, shapes (n_c, d), prepared rows of each class
    k : int
        Total budget, at least ``len(Zs)``.

    Returns
    -------
    ndarray of int64, shape (len(Zs),)
    """
    if k < len(Zs):
        raise ValueError(
            f"k={k} is smaller than the number of classes ({len(Zs)}): each class "
            "needs at least one centre"
        )
    dist: list[np.ndarray] = []
    for Z in Zs:
        c = _first_row(Z.shape[0], seed)
        d = _dist_to(Z, Z[c], metric)
        d[c] = 0.0
        dist.append(d)
    share = np.ones(len(Zs), dtype=np.int64)
    heap = [(-float(d.max()), i) for i, d in enumerate(dist)]
    heapq.heapify(heap)
    left = k - len(Zs)
    while left > 0 and heap:
        neg, i = heapq.heappop(heap)
        if -neg <= 0:
            break  # every class is covered at radius 0
        far = int(np.argmax(dist[i]))
        d = _dist_to(Zs[i], Zs[i][far], metric)
        d[far] = 0.0
        np.minimum(dist[i], d, out=dist[i])
        share[i] += 1
        left -= 1
        if share[i] < Zs[i].shape[0]:
            heapq.heappush(heap, (-float(dist[i].max()), i))
    return share


def _estimate_edges(Z: np.ndarray, eta: float, metric: str, seed: int) -> float:
    n = Z.shape[0]
    rng = np.random.default_rng(seed)
    sample = rng.choice(n, size=min(n, 256), replace=False)
    deg = [int(within(_dist_to(Z, Z[i], metric), eta).sum()) for i in sample]
    return float(np.mean(deg)) * n


def kcenter_cover(
    Z: np.ndarray, k: int, metric: str, *, seed: int = 0, bisect_steps: int = 14
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most ``k`` centres of the rows of ``Z`` with the smallest radius found.

    Returns
    -------
    centres : ndarray of int64, shape (m <= k,), sorted
    nearest : ndarray of int64, shape (n,), position in ``centres`` of each row's centre
    dist : ndarray of float64, shape (n,), exact distance to it
    """
    n = Z.shape[0]
    k = min(k, n)
    ff, near, dist = farthest_first(Z, k, metric, seed=seed)
    best = (ff, near, dist)
    r_ff = float(dist.max())
    if r_ff <= 0 or k >= n:
        return _sorted(*best)
    if _estimate_edges(Z, r_ff, metric, seed) > EDGE_CAP:
        log.info("kcenter: eta-graph at r=%.4g too dense, keeping farthest-first", r_ff)
        return _sorted(*best)
    g = neighbours(Z, Z, r_ff, metric, index="flat")
    # Edge distances are exact near r_ff and within FAISS's float32 error elsewhere: enough to
    # *choose* centres at a smaller radius; the radius reported is measured exactly below.
    lo, hi = r_ff / 2.0, r_ff
    found: np.ndarray | None = None
    for _ in range(bisect_steps):
        mid = 0.5 * (lo + hi)
        keep = g.dist <= mid
        sub = g.restrict(mid, keep)
        if np.any(sub.degrees() == 0):  # cannot happen (self-loops), guard anyway
            lo = mid
            continue
        centres = greedy_cover(sub)
        if centres.shape[0] <= k:
            hi, found = mid, centres
        else:
            lo = mid
    if found is not None:
        cand = farthest_first(Z, k, metric, seed=seed, start=found)
        if float(cand[2].max()) < float(best[2].max()):
            best = cand
    return _sorted(*best)


def _sorted(
    centres: np.ndarray, nearest: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(centres)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    return centres[order], rank[nearest], dist
