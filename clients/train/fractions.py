"""Training sets at a fraction of the data: stratified and matched random subsets, k-center,
MFC covers found by radius (:func:`covering.eta_for_size`), in pixel, PCA or embedding space,
and the weightings of a cover's centres."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "SPACES",
    "WEIGHTINGS",
    "CoverPick",
    "check_fraction",
    "cover_at_size",
    "kcenter_counts",
    "matched_subset",
    "stratified_counts",
    "stratified_cover",
    "stratified_subset",
    "training_weights",
]

log = logging.getLogger(__name__)

#: where a cover is computed: raw pixels, a PCA projection, or a trained CNN's features
SPACES = ("pixels", "pca", "embedding")
#: how a cover's centres are weighted in training
WEIGHTINGS = ("counts", "none", "sampler", "sqrt")
#: :func:`covering.eta_for_size`'s default precision of eta
DEFAULT_RTOL = 1e-3


def check_fraction(fraction: object) -> float:
    """``fraction`` as a float in (0, 1]; ValueError otherwise."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise ValueError(f"a fraction must be a number in (0, 1], got {fraction!r}")
    f = float(fraction)
    if not (math.isfinite(f) and 0 < f <= 1):
        raise ValueError(f"a fraction must lie in (0, 1], got {fraction!r}")
    return f


def stratified_counts(y: np.ndarray, fraction: float) -> np.ndarray:
    """Rows per class for a stratified subset of ``round(fraction * n)`` rows.

    Each class gets its share of the total in proportion to its size (largest-remainder
    rounding, so the counts sum exactly to the total), at least one row and at most all of
    its rows.

    Parameters
    ----------
    y : ndarray of int, shape (n,)
    fraction : float in (0, 1]

    Returns
    -------
    ndarray of int64, shape (c,)
        In the order of ``np.unique(y)``.
    """
    f = check_fraction(fraction)
    _, sizes = np.unique(y, return_counts=True)
    total = max(sizes.shape[0], round(f * y.shape[0]))
    want = sizes * (total / sizes.sum())
    base = np.minimum(np.maximum(np.floor(want).astype(np.int64), 1), sizes)
    rest = total - int(base.sum())
    order = np.argsort(-(want - np.floor(want)), kind="stable")
    i = 0
    while rest > 0:  # hand out the remainder, largest fractional part first
        c = order[i % order.shape[0]]
        if base[c] < sizes[c]:
            base[c] += 1
            rest -= 1
        i += 1
    while rest < 0:  # the floor of one row per class overshot: take from the largest
        c = int(np.argmax(base - (base == 1) * sizes.max()))
        base[c] -= 1
        rest += 1
    return base


def _per_class(y: np.ndarray, counts: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    if counts.shape[0] != classes.shape[0]:
        raise ValueError(f"{counts.shape[0]} class counts for {classes.shape[0]} classes")
    out = [
        rng.choice(np.flatnonzero(y == c), size=int(k), replace=False)
        for c, k in zip(classes, counts, strict=True)
    ]
    return np.sort(np.concatenate(out)).astype(np.int64)


def stratified_subset(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Row indices (int64, sorted) of a stratified random subset: :func:`stratified_counts`
    rows drawn uniformly without replacement from every class."""
    return _per_class(y, stratified_counts(y, fraction), seed)


def matched_subset(y: np.ndarray, counts: np.ndarray, seed: int) -> np.ndarray:
    """Row indices (int64, sorted): ``counts[c]`` random rows of each class (in the order of
    ``np.unique(y)``), e.g. a cover's centres per class, to separate selection from balance."""
    return _per_class(y, np.asarray(counts, dtype=np.int64), seed)


def kcenter_counts(X: np.ndarray, y: np.ndarray, counts: np.ndarray, seed: int) -> np.ndarray:
    """Row indices (int64, sorted): ``counts[c]`` farthest-first centres (Sener & Savarese's
    k-center greedy, L2) of each class of ``X`` (n, d)."""
    from covering.metrics import prepare
    from covering.solvers import farthest_first

    out = []
    for c, k in zip(np.unique(y), counts, strict=True):
        rows = np.flatnonzero(y == c)
        centres, _, _ = farthest_first(prepare(X[rows], "l2"), int(k), "l2", seed=seed)
        out.append(rows[centres])
    return np.sort(np.concatenate(out)).astype(np.int64)


@dataclass(frozen=True)
class CoverPick:
    """A cover of the training set with a given number of centres.

    Attributes
    ----------
    indices : ndarray of int64, shape (m,), sorted centre rows
    weights : ndarray of int64, shape (m,), rows each centre stands for (sum n)
    eta : float, the radius (in the space the cover was computed in)
    radius : float, the largest distance of a row to its centre
    seconds : float, time to compute it (0 when read from the cache)
    """

    indices: np.ndarray
    weights: np.ndarray
    eta: float
    radius: float
    seconds: float


def _cache_key(Z: np.ndarray, y: np.ndarray, size: int, metric: str, rtol: float) -> str:
    from covering import fingerprint

    key: list[object] = [fingerprint(Z), fingerprint(y), size, metric]
    if rtol != DEFAULT_RTOL:
        key.append(rtol)
    text = json.dumps(key)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cover_at_size(
    Z: np.ndarray,
    y: np.ndarray,
    size: int,
    *,
    metric: str = "l2",
    cache: Path | None = None,
    rtol: float = 1e-3,
) -> CoverPick:
    """The labelled radius-mode cover of ``Z`` (n, d) with exactly ``size`` centres
    (:func:`covering.eta_for_size`, eta to the relative precision ``rtol``), verified; cached
    in ``cache`` (a directory) by the fingerprints of ``Z`` and ``y``, ``size``, ``metric``
    and ``rtol``: the cover is deterministic."""
    import covering

    if cache is None:
        return _cover_now(Z, y, size, metric, rtol, None)
    path = cache / f"cover-{_cache_key(Z, y, size, metric, rtol)}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:  # one worker computes, others wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            with np.load(path, allow_pickle=False) as f:
                idx, w = f["indices"], f["weights"]
                assign = f["assignment"]
                eta, radius = float(f["eta"]), float(f["radius"])
            # the cached arrays are re-verified exactly: a cache is not trusted
            covering.verify_centres(Z, idx, eta, metric, labels=y)
            if not np.array_equal(np.bincount(assign, minlength=idx.shape[0]), w):
                raise ValueError(f"{path}: weights do not match the assignment; delete it")
            return CoverPick(idx, w, eta, radius, 0.0)
        return _cover_now(Z, y, size, metric, rtol, path)


def _cover_now(
    Z: np.ndarray, y: np.ndarray, size: int, metric: str, rtol: float, path: Path | None
) -> CoverPick:
    import time

    import covering
    from covering.io import write_npz_atomic

    t = time.perf_counter()
    cov = covering.eta_for_size(Z, y, size, metric=metric, rtol=rtol)
    pick = CoverPick(cov.indices, cov.weights, cov.eta, cov.radius, time.perf_counter() - t)
    if path is not None:
        write_npz_atomic(
            path,
            {
                "indices": cov.indices,
                "weights": cov.weights,
                "assignment": cov.assignment,
                "eta": np.array(cov.eta),
                "radius": np.array(cov.radius),
            },
        )
    log.info("cover of %d rows at size %d: eta %.4g (%.1f s)", len(y), size, pick.eta, pick.seconds)
    return pick


def stratified_cover(
    Z: np.ndarray,
    y: np.ndarray,
    counts: np.ndarray,
    *,
    metric: str = "l2",
    cache: Path | None = None,
) -> CoverPick:
    """A cover with exactly ``counts[c]`` centres in class ``c`` (in the order of
    ``np.unique(y)``): every class covered on its own by :func:`cover_at_size`, each at its own
    radius. So the cover keeps a stratified subset's class balance, where one radius for all
    classes gives spread classes many centres and tight ones few. ``eta`` is the largest class
    radius (every row is within it of a centre of its class)."""
    idx: list[np.ndarray] = []
    wts: list[np.ndarray] = []
    etas: list[float] = []
    radius, seconds = 0.0, 0.0
    for c, k in zip(np.unique(y), counts, strict=True):
        rows = np.flatnonzero(y == c)
        pick = cover_at_size(Z[rows], y[rows], int(k), metric=metric, cache=cache)
        idx.append(rows[pick.indices])
        wts.append(pick.weights)
        etas.append(pick.eta)
        radius, seconds = max(radius, pick.radius), seconds + pick.seconds
    indices, weights = np.concatenate(idx), np.concatenate(wts)
    order = np.argsort(indices)
    return CoverPick(indices[order], weights[order], max(etas), radius, seconds)


def training_weights(counts: np.ndarray, weighting: str) -> tuple[np.ndarray | None, bool]:
    """Per-sample loss weights and the sampler flag for a cover's ``counts`` (int (m,)).

    ``counts``: the counts themselves (the faithful bound: the weighted loss is the mean over
    the rows the centres stand for); ``none``: unweighted; ``sampler``: batches drawn with
    probability proportional to the counts, plain mean loss; ``sqrt``: ``counts ** 0.5``
    renormalised to mean 1 (a tempered weight).

    Returns
    -------
    weights : ndarray of float64, shape (m,), or None (uniform)
    sampler : bool
    """
    w = np.asarray(counts, dtype=np.float64)
    if weighting == "counts":
        return w, False
    if weighting == "none":
        return None, False
    if weighting == "sampler":
        return w, True
    if weighting == "sqrt":
        s = np.sqrt(w)
        return s / s.mean(), False
    raise ValueError(f"unknown weighting {weighting!r}: expected one of {', '.join(WEIGHTINGS)}")
