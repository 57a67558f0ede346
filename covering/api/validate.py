"""The checks of :func:`covering.cover`'s arguments at the boundary (each a ``ValueError`` naming
the problem), shared by :class:`covering.CoverBuilder`, :mod:`covering.sizing` and
:mod:`covering.distributed`; and :func:`release_pages` for memory-mapped inputs."""

from __future__ import annotations

import contextlib
import math
import mmap
import numbers

import numpy as np

from covering.api.methods import METHODS
from covering.graph.build import BACKENDS
from covering.graph.ivf import check_index
from covering.metrics import check_metric

__all__ = [
    "check_eta_k",
    "check_index",
    "check_options",
    "check_seed",
    "release_pages",
    "validate_X",
    "validate_labels",
]

_FLOAT_KINDS = "fiub"


def release_pages(X: np.ndarray) -> None:
    """Drop the resident pages of a memory-mapped ``X`` from this process (no-op otherwise).

    Read-only file pages stay in the page cache and are faulted back on the next access; this
    only stops full passes over a large memmap (validation, fingerprint, verification) from
    counting the whole file in the process's resident memory.
    """
    mm = getattr(X, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise"):
        return
    with contextlib.suppress(OSError, ValueError):  # platforms without madvise
        mm.madvise(mmap.MADV_DONTNEED)


def validate_X(X: object) -> np.ndarray:
    """Check an embedding; return it as an ndarray (memmaps stay memmaps, no copy).

    Raises
    ------
    ValueError
        Not a 2-D real numeric array, empty, or containing NaN/inf.
    """
    if isinstance(X, np.ma.MaskedArray):
        raise ValueError(
            "X is a masked array: fill or drop the masked rows first "
            "(e.g. X.filled(...) or X.compressed())"
        )
    if isinstance(X, np.ndarray):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except Exception as exc:  # ragged lists etc.
            raise ValueError(f"X is not an array: {exc}") from None
    if arr.dtype.kind not in _FLOAT_KINDS:
        raise ValueError(f"X must be a real numeric array (float16/32/64), got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("X is empty (0 rows): nothing to cover")
    if arr.shape[1] == 0:
        raise ValueError("X has 0 columns")
    if arr.dtype.kind == "f":
        step = max(1, (64 << 20) // max(1, arr.shape[1] * arr.itemsize))
        for s in range(0, arr.shape[0], step):
            block = arr[s : s + step]
            if not np.isfinite(block).all():
                bad = s + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
                raise ValueError(f"X contains NaN or inf (first at row {bad})")
    return arr


def validate_labels(labels: object, n: int) -> np.ndarray:
    """Check labels: 1-D integers of length ``n``; return them as int64."""
    y = np.asarray(labels)
    if y.dtype.kind not in "iub":
        raise ValueError(
            f"labels must be integers, got dtype {y.dtype} (cast them, e.g. labels.astype(int))"
        )
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"labels have length {y.shape[0]} but X has {n} rows")
    if y.dtype.kind == "u" and y.size and int(y.max()) > np.iinfo(np.int64).max:
        raise ValueError("labels must fit int64: got unsigned values >= 2**63")
    return y.astype(np.int64)


def check_eta_k(eta: object, k: object) -> tuple[float | None, int | None]:
    """Check that exactly one of ``eta`` (a finite float > 0) and ``k`` (an int >= 1) is given.

    Returns ``(eta, None)`` or ``(None, k)``; raises ``ValueError`` otherwise. Shared by
    :func:`covering.cover` and :class:`covering.CoverBuilder`.
    """
    if (eta is None) == (k is None):
        raise ValueError("give exactly one of eta (radius mode) and k (budget mode)")
    if eta is not None:
        if isinstance(eta, bool) or not isinstance(eta, numbers.Real):
            raise ValueError(f"eta must be a positive number, got {eta!r}")
        e = float(eta)
        if not math.isfinite(e) or e <= 0:
            raise ValueError(f"eta must be a finite number > 0, got {eta!r}")
        return e, None
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    return None, int(k)


def check_options(
    *,
    metric: str,
    method: str,
    backend: str,
    index: str,
    budget: bool,
    time_limit: float | None,
    seed: object,
) -> None:
    """Check :func:`covering.cover`'s options, in this order: ``metric``, ``method`` (one of
    :data:`covering.api.METHODS`), ``backend`` (:data:`covering.api.BACKENDS`), ``index``, the
    method of budget mode (``budget``: ``k`` was given), ``time_limit`` and ``seed``.

    Raises
    ------
    ValueError
        Naming the first invalid option.
    """
    check_metric(metric)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    check_index(index)
    if budget and method not in ("auto", "kcenter"):
        raise ValueError(f"budget mode (k) uses method 'kcenter' or 'auto', not {method!r}")
    if time_limit is not None and not (time_limit > 0):
        raise ValueError(f"time_limit must be > 0, got {time_limit!r}")
    check_seed(seed)


def check_seed(seed: object) -> int:
    """``seed`` as an int if it is an integer in [0, 2**31), else a ``ValueError``."""
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not (0 <= int(seed) < 2**31)
    ):
        raise ValueError(f"seed must be an integer in [0, 2**31), got {seed!r}")
    return int(seed)
