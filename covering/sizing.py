"""Cover size against radius: the size-vs-eta curve, and the radius that gives a target size.

Both run the engine's own radius-mode path (:func:`covering.api.solve_radius` with the
``greedy`` method on the exact eta-graph of every class), so a size read off the curve is the
size :func:`covering.cover` returns for ``method="greedy", lower_bound=False`` at that eta, and
the cover returned by :func:`eta_for_size` is an ordinary verified radius-mode cover.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from typing import Any

import numpy as np

from covering.api import assemble_cover, solve_radius, validate_labels, validate_X
from covering.api.validate import check_index, check_seed
from covering.fingerprint import fingerprint
from covering.metrics import check_metric, exact_distances, prepare
from covering.progress import ProgressArg, Reporter
from covering.result import Cover
from covering.sizecurve import SizeCurve

__all__ = ["SizeCurve", "eta_for_size", "size_curve"]

log = logging.getLogger(__name__)

#: prepared (float64) rows kept in memory across probes up to this many bytes
_KEEP_BYTES = 2 << 30
#: rows sampled to guess a starting radius
_SAMPLE = 1024
#: the sampled rows' distances are taken to at most this many rows of their class (the k-th
#: neighbour's rank scaled to match), so the guess costs O(_SAMPLE * _POOL * d) however large n
_POOL = 20_000
#: the upward search multiplies eta by this factor (larger radii make denser graphs)
_STEP = 1.25
#: the downward search halves eta at most this many times (below, rows repeat)
_DOWN_STEPS = 30


class _Classes:
    """The rows of each class, prepared once (kept in memory when small enough)."""

    def __init__(self, X: np.ndarray, y: np.ndarray | None, metric: str) -> None:
        n = X.shape[0]
        self.X, self.metric, self.n = X, metric, n
        if y is None:
            self.labels = np.array([-1], dtype=np.int64)
            self.rows = [np.arange(n, dtype=np.int64)]
        else:
            self.labels = np.unique(y)
            self.rows = [np.flatnonzero(y == v) for v in self.labels]
        keep = n * X.shape[1] * 8 <= _KEEP_BYTES
        self._cache: dict[int, np.ndarray] | None = {} if keep else None

    def __len__(self) -> int:
        return len(self.rows)

    def Z(self, ci: int) -> np.ndarray:
        if self._cache is not None and ci in self._cache:
            return self._cache[ci]
        Z = prepare(self.X[self.rows[ci]], self.metric)
        if self._cache is not None:
            self._cache[ci] = Z
        return Z


def _check_etas(etas: object) -> np.ndarray:
    try:
        e = np.asarray(etas, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"etas must be numbers, got {etas!r}") from None
    if e.size == 0:
        raise ValueError("etas is empty: give at least one radius")
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError("every eta must be a finite number > 0")
    return np.unique(e)


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        span = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {span}, got {v}")
    return v


def _class_size(cls: _Classes, ci: int, eta: float, index: str, seed: int) -> Any:
    """The greedy cover of class ``ci`` at ``eta`` (the engine's radius-mode path)."""
    return solve_radius(
        cls.Z(ci),
        eta,
        cls.metric,
        "greedy",
        seed=seed,
        time_limit=None,
        bound=False,
        index=index,
        report=Reporter(None),
        base=0,
        total=cls.n,
    )


def size_curve(
    X: np.ndarray,
    labels: np.ndarray | None = None,
    etas: Any = None,
    *,
    num: int = 16,
    metric: str = "l2",
    seed: int = 0,
    index: str = "auto",
    progress: ProgressArg = False,
) -> SizeCurve:
    """Size of the greedy cover at each radius of ``etas`` (per class with labels).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    labels : ndarray of int, shape (n,), optional
    etas : array-like of float, optional
        Radii (> 0). Default: ``num`` radii spaced geometrically from a quarter of the largest
        to the largest, which is the radius a stratified sample of 1 % of the rows (at least one
        per class) would need as centres (estimated on a sample of rows; see
        :func:`eta_for_size`'s start), so the curve spans covers of roughly 1 % of the rows up
        to almost all of them.
    num : int
        Number of default radii.
    metric : {"l2", "linf", "cosine"}
    seed : int
        In [0, 2**31): the greedy order's tie-breaks and the rows sampled for the start.
    index : {"auto", "flat", "ivf"}
    progress : bool or callable(stage, done, total)
        Stage ``curve``: radii done out of all.

    Returns
    -------
    SizeCurve
    """
    t0 = time.perf_counter()
    Xv = validate_X(X)
    check_metric(metric)
    y = None if labels is None else validate_labels(labels, Xv.shape[0])
    num = _check_int("num", num, 2, 1000)
    seed = check_seed(seed)
    check_index(index)
    cls = _Classes(Xv, y, metric)
    if etas is None:
        k = max(len(cls), math.ceil(Xv.shape[0] / 100))
        hi = _guess_eta(cls, k, seed)
        grid = np.geomspace(hi / 4.0, hi, num)
    else:
        grid = _check_etas(etas)
    report = Reporter(progress)
    sizes = np.zeros((len(cls), grid.shape[0]), dtype=np.int64)
    try:
        for j, eta in enumerate(grid):
            for ci in range(len(cls)):
                sizes[ci, j] = _class_size(cls, ci, float(eta), index, seed).centres.shape[0]
            report("curve", j + 1, grid.shape[0])
    finally:
        report.close()
    return SizeCurve(
        etas=grid,
        sizes=sizes.sum(axis=0),
        class_sizes=sizes,
        classes=cls.labels,
        class_counts=np.array([r.shape[0] for r in cls.rows], dtype=np.int64),
        n=Xv.shape[0],
        metric=metric,
        seconds=time.perf_counter() - t0,
    )


def _guess_eta(cls: _Classes, size: int, seed: int) -> float:
    """A radius near the one at which covers have ``size`` centres: the median, over sampled
    rows, of the distance to the ``ceil(n / size)``-th nearest row of the same class (each
    centre stands for about ``n / size`` rows)."""
    rng = np.random.default_rng(seed)
    per = max(1, _SAMPLE // len(cls))
    found: list[float] = []
    for ci in range(len(cls)):
        Z = cls.Z(ci)
        m = Z.shape[0]
        kth = min(m - 1, math.ceil(cls.n / size))
        if kth < 1:
            continue
        pool = Z
        if m > _POOL:  # distances to a random pool of the class; the rank shrinks with it
            pool = Z[np.sort(rng.choice(m, size=_POOL, replace=False))]
            kth = max(1, min(_POOL - 1, round(kth * _POOL / m)))
        for i in rng.choice(m, size=min(m, per), replace=False):
            d = exact_distances(pool, np.broadcast_to(Z[i], pool.shape), cls.metric)
            found.append(float(np.partition(d, kth)[kth]))
    pos = [v for v in found if v > 0]
    return float(np.median(pos)) if pos else 1.0


def eta_for_size(
    X: np.ndarray,
    labels: np.ndarray | None = None,
    size: int = 1,
    *,
    metric: str = "l2",
    seed: int = 0,
    rtol: float = 1e-3,
    index: str = "auto",
    progress: ProgressArg = False,
) -> Cover:
    """A radius-mode cover with exactly ``size`` centres, at the smallest radius found.

    Searches eta by bisection (geometric, to a relative width ``rtol``) for the smallest radius
    at which the greedy cover (the engine's radius mode, per class) has at most ``size``
    centres, then adds the rows farthest from their centres (farthest-first over all classes)
    until the cover has exactly ``size`` centres. Adding centres never moves a row farther
    from its centre, so every row stays within ``eta`` of a centre of its label; the result is
    verified exactly like every cover.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    labels : ndarray of int, shape (n,), optional
    size : int
        Target number of centres, in ``[number of classes, n]``.
    metric : {"l2", "linf", "cosine"}
    seed : int
        In [0, 2**31): the greedy order's tie-breaks and the rows sampled for the start.
    rtol : float
        Relative precision of eta, in (0, 1).
    index : {"auto", "flat", "ivf"}
    progress : bool or callable(stage, done, total)
        Stage ``search``: radii tried so far (``total`` is 0: not known in advance).

    Returns
    -------
    Cover
        ``eta`` is the radius found, ``k`` None (a radius-mode cover), ``method`` ``greedy``;
        ``notes`` say how many centres were added and the greedy sizes at the bracket.

    Raises
    ------
    ValueError
        Bad input, ``size`` below the number of classes or above ``n`` (the message says
        which), or no radius reaches ``size`` (only when rows repeat: the note says why).
    """
    t0 = time.perf_counter()
    Xv = validate_X(X)
    check_metric(metric)
    n = Xv.shape[0]
    y = None if labels is None else validate_labels(labels, n)
    cls = _Classes(Xv, y, metric)
    size = _check_int("size", size, 1)
    seed = check_seed(seed)
    check_index(index)
    if size < len(cls):
        raise ValueError(
            f"size={size} is smaller than the number of classes ({len(cls)}): "
            "each class needs at least one centre"
        )
    if size > n:
        raise ValueError(f"size={size} exceeds the number of rows ({n})")
    if not (isinstance(rtol, numbers.Real) and 0 < float(rtol) < 1):
        raise ValueError(f"rtol must lie in (0, 1), got {rtol!r}")
    report = Reporter(progress)
    tried = 0
    floor = [False]  # set once a probe makes every row a centre
    best: tuple[float, list[Any]] | None = None  # smallest eta known to give <= size
    over: tuple[float, int] | None = None  # largest eta known to give > size (a lower bound)

    def probe(eta: float) -> bool:
        """Greedy covers of all classes at ``eta``; True (and kept) when <= size."""
        nonlocal tried, best, over
        tried += 1
        results, total = [], 0
        for ci in range(len(cls)):
            res = _class_size(cls, ci, eta, index, seed)
            total += res.centres.shape[0]
            results.append(res)
            if total > size:  # the rest cannot bring it back under
                break
        report("search", tried, 0)
        log.info("eta_for_size: eta=%.6g -> %s%d centres", eta, ">" if total > size else "", total)
        if total <= size:
            if best is None or eta < best[0]:
                best = (eta, results)
            if total == n:  # every row is a centre: no smaller radius does better
                floor[0] = True
            return True
        if over is None or eta > over[0]:
            over = (eta, total)
        return False

    try:
        start = _guess_eta(cls, size, seed)
        e = start
        if probe(e):  # look downwards for a radius that needs more than `size` centres
            while over is None and not floor[0] and e > start * 2.0**-_DOWN_STEPS:
                e /= 2.0
                probe(e)
        else:  # upwards: one centre per class suffices at some radius
            while best is None:
                e *= _STEP
                probe(e)
        while best is not None and over is not None and best[0] / over[0] > 1 + rtol:
            probe(math.sqrt(best[0] * over[0]))
    finally:
        report.close()
    assert best is not None  # the upward search ends: one centre per class suffices eventually
    eta_found, results = best
    labels_fp = None if labels is None else fingerprint(np.asarray(labels))
    return _topped_up(Xv, y, labels_fp, cls, results, eta_found, size, over, seed, t0)


def _topped_up(
    X: np.ndarray,
    y: np.ndarray | None,
    labels_fp: str | None,
    cls: _Classes,
    results: list[Any],
    eta: float,
    size: int,
    over: tuple[float, int] | None,
    seed: int,
    t0: float,
) -> Cover:
    """The greedy covers of the classes at ``eta``, plus farthest rows until ``size`` centres."""
    n = X.shape[0]
    centre_of = np.empty(n, dtype=np.int64)
    dist = np.empty(n)
    members: list[list[int]] = []
    for ci, rows in enumerate(cls.rows):
        Z, res = cls.Z(ci), results[ci]
        near = res.centre_of
        centre_of[rows] = rows[near]
        dist[rows] = exact_distances(Z, Z[near], cls.metric)
        members.append([int(c) for c in rows[res.centres]])
    greedy_size = sum(len(m) for m in members)
    class_of = np.empty(n, dtype=np.int64)
    for ci, rows in enumerate(cls.rows):
        class_of[rows] = ci
    added = 0
    while greedy_size + added < size:
        far = int(np.argmax(dist))
        if dist[far] <= 0:
            break  # every row sits on a centre (repeated rows): no centre would help
        ci = int(class_of[far])
        rows = cls.rows[ci]
        Z = cls.Z(ci)
        local = int(np.searchsorted(rows, far))
        d = exact_distances(Z, np.broadcast_to(Z[local], Z.shape), cls.metric)
        d[local] = 0.0
        closer = d < dist[rows]
        dist[rows[closer]] = d[closer]
        centre_of[rows[closer]] = far
        members[ci].append(far)
        added += 1
    notes = [
        f"eta_for_size: target {size} centres; greedy cover at eta={eta:.6g} has "
        f"{greedy_size}"
        + (f", at eta={over[0]:.6g} more than {size}" if over is not None else "")
        + (f"; {added} more centre(s): the rows farthest from their centres" if added else "")
    ]
    if greedy_size + added < size:
        notes.append(
            f"only {greedy_size + added} distinct centres are possible: the other rows repeat"
        )
    indices = np.sort(np.fromiter((c for m in members for c in m), dtype=np.int64))
    return assemble_cover(
        X,
        y,
        indices,
        centre_of,
        eta=eta,
        k=None,
        metric=cls.metric,
        method="greedy",
        lower_bound=None,
        optimal=None,
        labels_fingerprint=labels_fp,
        backend="cpu",
        seed=seed,
        notes=notes,
        t0=t0,
    )
