"""The verified :class:`covering.Cover` of chosen centres and an assignment: weights, radius,
fingerprints, and the exact check (:func:`covering.verify`). Shared by :func:`covering.cover`
and :mod:`covering.sizing`."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from covering.api.validate import release_pages
from covering.fingerprint import fingerprint
from covering.result import Cover
from covering.verify import assigned_distances, verify

__all__ = ["assemble_cover"]

log = logging.getLogger(__name__)


def assemble_cover(
    X: np.ndarray,
    y: np.ndarray | None,
    indices: np.ndarray,
    centre_of: np.ndarray,
    *,
    eta: float | None,
    k: int | None,
    metric: str,
    method: str,
    lower_bound: int | None,
    optimal: bool | None,
    labels_fingerprint: str | None,
    backend: str,
    seed: int,
    notes: list[str],
    t0: float,
    dist: np.ndarray | None = None,
) -> Cover:
    """The verified :class:`Cover` of centres ``indices`` (sorted rows of ``X``) with each row
    ``i`` assigned to row ``centre_of[i]``.

    Parameters
    ----------
    X : ndarray, shape (n, d), validated
    y : ndarray of int64, shape (n,), or None
    indices : ndarray of int64, shape (m,), sorted, unique
    centre_of : ndarray of int64, shape (n,), a row of ``indices`` for every row
    eta : float or None
        The radius asked for; None in budget mode (the achieved radius is recorded).
    dist : ndarray of float64, shape (n,), optional
        Exact distances of the rows to their centres, when already computed.

    Raises
    ------
    CoverError
        If the cover fails :func:`covering.verify` (never for the engine's own covers).
    """
    n, dim = X.shape
    assignment = np.searchsorted(indices, centre_of).astype(np.int64)
    if dist is None:
        dist = assigned_distances(X, centre_of, metric)
        release_pages(X)
    radius = float(dist.max())
    weights = np.bincount(assignment, minlength=indices.shape[0]).astype(np.int64)
    result = Cover(
        indices=indices.astype(np.int64),
        weights=weights,
        assignment=assignment,
        labels=None if y is None else y[indices],
        eta=float(eta) if eta is not None else radius,
        radius=radius,
        metric=metric,
        method=method,
        n=n,
        dim=dim,
        lower_bound=lower_bound,
        fingerprint=_fingerprint_released(X),
        labels_fingerprint=labels_fingerprint,
        distances=dist,
        k=k,
        dtype=str(X.dtype),
        backend=backend,
        seed=int(seed),
        seconds=time.perf_counter() - t0,
        optimal=optimal,
        notes=tuple(notes),
    )
    verify(X, result, y, distances=dist)
    result = replace(result, seconds=time.perf_counter() - t0)
    log.info("cover: %s", result.summary())
    return result


def _fingerprint_released(X: np.ndarray) -> str:
    fp = fingerprint(X)
    release_pages(X)
    return fp
