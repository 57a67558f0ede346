"""Exact verification of covers: one canonical float64 distance per row.

Distances are :func:`covering.metrics.exact_distances` and the radius test is
:func:`covering.metrics.within`, the same function and comparison the graphs are built with, so a
cover the engine's graph admits is a cover ``verify`` accepts, and conversely."""

from __future__ import annotations

import numpy as np

from covering.metrics import check_metric, exact_distances, prepare, within
from covering.result import Cover, CoverError

__all__ = ["assigned_distances", "verify", "verify_centres"]

#: float64 values per block of rows (~4 MiB per temporary: stays in cache)
_BLOCK_VALUES = 1 << 19
#: rows per range search in verify_centres
_SEARCH_BLOCK = 65536


def assigned_distances(
    X: np.ndarray, centre_rows: np.ndarray, metric: str, *, block: int | None = None
) -> np.ndarray:
    """Canonical ``d(X[i], X[centre_rows[i]])`` for every row, in float64, blockwise
    (:func:`covering.metrics.exact_distances`: the same bits whatever the block).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    centre_rows : ndarray of int64, shape (n,)
    metric : {"l2", "linf", "cosine"}
    block : int, optional
        Rows per step (default: about 4 MiB of float64 per temporary).

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    n = X.shape[0]
    if block is None:
        block = max(64, _BLOCK_VALUES // max(1, X.shape[1] if X.ndim == 2 else 1))
    out = np.empty(n)
    for s in range(0, n, block):
        e = min(n, s + block)
        A = prepare(X[s:e], metric)
        B = prepare(X[centre_rows[s:e]], metric)
        out[s:e] = exact_distances(A, B, metric)
    return out


def _check_labels(labels: np.ndarray | None, n: int) -> np.ndarray | None:
    if labels is None:
        return None
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise CoverError(f"labels have shape {y.shape}, expected ({n},)")
    if y.dtype.kind not in "iub" or (
        y.dtype.kind == "u" and y.size and int(y.max()) > np.iinfo(np.int64).max
    ):
        raise CoverError(f"labels must be integers that fit int64, got dtype {y.dtype}")
    return y.astype(np.int64)


def verify(
    X: np.ndarray,
    cover: Cover,
    labels: np.ndarray | None = None,
    *,
    distances: np.ndarray | None = None,
) -> None:
    """Raise :class:`CoverError` unless ``cover`` is a valid cover of ``X``.

    Checks, exactly: shapes; centre indices unique and in range; assignment in range; weights
    equal the assignment counts (so they sum to n); every row has the label of its centre; and
    ``d(X[i], centre) <= cover.eta`` for every row, computed in float64; and that the cover's
    recorded ``radius`` is at least the largest of these distances and at most ``eta``.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    cover : Cover
    labels : ndarray of int, shape (n,), optional
        Labels of the rows; required when the cover has labels.
    distances : ndarray of float64, shape (n,), optional
        ``assigned_distances(X, indices[assignment], metric)`` when the caller has just
        computed it (saves the second pass; the check on it is the same).
    """
    if not isinstance(cover, Cover):
        raise CoverError(f"cover must be a covering.Cover, got {type(cover).__name__}")
    X = np.asarray(X) if not isinstance(X, np.memmap) else X
    if X.ndim != 2:
        raise CoverError(f"X must be 2-D, got shape {X.shape}")
    n = X.shape[0]
    check_metric(cover.metric)
    if cover.n != n or cover.dim != X.shape[1]:
        raise CoverError(f"cover is for shape ({cover.n}, {cover.dim}), X has {X.shape}")
    idx = np.asarray(cover.indices, dtype=np.int64)
    a = np.asarray(cover.assignment, dtype=np.int64)
    w = np.asarray(cover.weights, dtype=np.int64)
    m = idx.shape[0]
    if n and m == 0:
        raise CoverError("cover has no centres")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise CoverError("centre index out of range")
    if np.unique(idx).shape[0] != m:
        raise CoverError("centre indices are not unique")
    if a.shape != (n,) or (a.size and (a.min() < 0 or a.max() >= m)):
        raise CoverError("assignment has the wrong shape or points outside the centres")
    if w.shape != (m,) or not np.array_equal(w, np.bincount(a, minlength=m)):
        raise CoverError("weights do not equal the number of rows assigned to each centre")
    y = _check_labels(labels, n)
    if cover.labels is not None:
        if y is None:
            raise CoverError("the cover is labelled: pass the labels to verify it")
        if not np.array_equal(np.asarray(cover.labels), y[idx]):
            raise CoverError("a centre's label differs from the label of its row")
        bad = np.flatnonzero(y != y[idx[a]])
        if bad.size:
            raise CoverError(
                f"row {bad[0]} (label {y[bad[0]]}) is assigned to a centre of "
                f"label {y[idx[a[bad[0]]]]}"
            )
    if distances is None or np.shape(distances) != (n,):
        d = assigned_distances(X, idx[a], cover.metric)
    else:
        d = np.asarray(distances, dtype=np.float64)
    over = np.flatnonzero(~within(d, cover.eta))
    if over.size:
        i = int(over[0])
        raise CoverError(
            f"row {i} is at distance {d[i]!r} > eta={cover.eta!r} from its centre "
            f"{int(idx[a[i]])} ({over.size} rows violate the radius)"
        )
    top = float(d.max()) if d.size else 0.0
    r, e = float(cover.radius), float(cover.eta)
    slack = 1e-12 * max(abs(r), abs(top), abs(e))
    if not (top <= r + slack and r <= e + slack):
        raise CoverError(
            f"the cover records radius {cover.radius!r} (eta {cover.eta!r}), but "
            f"its largest distance is {top!r}"
        )


def verify_centres(
    X: np.ndarray,
    indices: np.ndarray,
    eta: float,
    metric: str,
    labels: np.ndarray | None = None,
    centre_labels: np.ndarray | None = None,
) -> np.ndarray:
    """Check that every row has a centre of its label within ``eta`` (no assignment given).

    Used for manifests, which carry centres and weights but not the assignment. Candidates come
    from FAISS; the decision is the canonical one (:class:`covering.graph.RangeIndex`: FAISS's
    value only where it provably agrees with :func:`covering.metrics.within` of
    :func:`covering.metrics.exact_distances`, that value otherwise).

    Returns
    -------
    ndarray of int64, shape (n,)
        Position in ``indices`` of a centre within eta of each row (the nearest FAISS found).

    Raises
    ------
    CoverError
        Naming the first row without such a centre.
    """
    from covering.graph import RangeIndex

    check_metric(metric)
    n = X.shape[0]
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
        raise CoverError("centre indices missing or out of range")
    if np.unique(idx).shape[0] != idx.shape[0]:
        raise CoverError("centre indices are not unique")
    y = _check_labels(labels, n)
    if (
        centre_labels is not None
        and y is not None
        and not np.array_equal(np.asarray(centre_labels, dtype=np.int64), y[idx])
    ):
        raise CoverError("a centre's label differs from the label of its row")
    groups = [np.arange(n)] if y is None else [np.flatnonzero(y == v) for v in np.unique(y)]
    out = np.full(n, -1, dtype=np.int64)
    for rows in groups:
        pos = np.flatnonzero(np.isin(idx, rows)) if y is not None else np.arange(idx.shape[0])
        if pos.size == 0:
            raise CoverError(f"row {int(rows[0])} has no centre of its label")
        C = prepare(X[idx[pos]], metric)
        ri = RangeIndex(C, metric, index="flat")
        for s in range(0, rows.shape[0], _SEARCH_BLOCK):
            r = rows[s : s + _SEARCH_BLOCK]
            g = ri.search(prepare(X[r], metric), eta)
            deg = g.degrees()
            if np.any(deg == 0):
                i = int(r[np.flatnonzero(deg == 0)[0]])
                raise CoverError(f"row {i} has no centre of its label within eta={eta!r}")
            out[r] = pos[g.indices[g.indptr[:-1]]]
    return out
