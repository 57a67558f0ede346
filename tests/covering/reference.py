"""Brute-force NumPy references for the engine tests (small n only)."""

from __future__ import annotations

import numpy as np


def pairwise(X: np.ndarray, metric: str) -> np.ndarray:
    """Dense (n, n) float64 distance matrix, computed the obvious way."""
    A = np.asarray(X, dtype=np.float64)
    if metric == "l2":
        return np.sqrt(((A[:, None, :] - A[None, :, :]) ** 2).sum(-1))
    if metric == "linf":
        return np.abs(A[:, None, :] - A[None, :, :]).max(-1)
    U = A / np.linalg.norm(A, axis=1, keepdims=True)
    return 1.0 - U @ U.T


def check_cover(X, y, cov, eta, metric, *, rtol=1e-12):
    """Assert every contract of a cover against the brute-force distances."""
    n = X.shape[0]
    D = pairwise(X, metric)
    idx = cov.indices
    assert idx.dtype == np.int64 and cov.weights.dtype == np.int64
    assert np.unique(idx).shape[0] == idx.shape[0], "indices not unique"
    assert cov.weights.sum() == n
    assert np.array_equal(cov.weights, np.bincount(cov.assignment, minlength=idx.shape[0]))
    centre = idx[cov.assignment]
    d = D[np.arange(n), centre]
    assert np.all(d <= eta * (1 + rtol) + 1e-15), f"max {d.max()} > eta {eta}"
    assert cov.radius <= eta
    if y is not None:
        assert np.array_equal(y[centre], y), "a point is covered by another label"
        assert np.array_equal(cov.labels, y[idx])


def optimum(X, y, eta, metric) -> int:
    """Exact minimum cover size by branch and bound over bitmasks (n <= ~60)."""
    D = pairwise(X, metric)
    n = X.shape[0]
    labels = np.zeros(n, dtype=np.int64) if y is None else np.asarray(y)
    adj = (eta * (1 + 1e-12) >= D) & (labels[:, None] == labels[None, :])
    return optimum_of(adj)


def optimum_of(adj: np.ndarray) -> int:
    """Exact minimum number of columns of the bool (n, n) ``adj`` covering every row
    (``adj[i, j]``: ``j`` covers ``i``), by branch and bound over bitmasks (n <= ~60)."""
    n = adj.shape[0]
    masks = [sum(1 << int(j) for j in np.flatnonzero(adj[i])) for i in range(n)]
    full = (1 << n) - 1
    best = [n]

    def rec(covered: int, used: int) -> None:
        if covered == full:
            best[0] = min(best[0], used)
            return
        if used + 1 >= best[0]:
            return
        free = ~covered & full
        # branch on the uncovered element with the fewest candidates
        i_best, cands = -1, None
        f = free
        while f:
            i = (f & -f).bit_length() - 1
            f &= f - 1
            c = masks[i]
            if cands is None or bin(c).count("1") < bin(cands).count("1"):
                i_best, cands = i, c
        assert cands is not None and i_best >= 0
        c = cands
        while c:
            j = (c & -c).bit_length() - 1
            c &= c - 1
            rec(covered | masks[j], used + 1)

    rec(0, 0)
    return best[0]
