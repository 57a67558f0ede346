"""``cover()``: validation at the boundary, per-class solving, assignment and exact verification."""

from __future__ import annotations

import contextlib
import logging
import math
import mmap
import numbers
import time
from dataclasses import dataclass, field, replace

import numpy as np

from covering.fingerprint import fingerprint
from covering.graph.build import BACKENDS, build_graph, resolve_backend
from covering.graph.csr import Graph
from covering.metrics import check_metric, prepare
from covering.progress import ProgressArg, Reporter
from covering.result import Cover, CoverError
from covering.solvers import (
    allocate_budget,
    farthest_first,
    greedy_cover,
    kcenter_cover,
    lower_bound,
    milp_cover,
    net_cover,
)
from covering.verify import assigned_distances, verify

__all__ = [
    "BACKENDS",
    "METHODS",
    "assemble_cover",
    "cover",
    "split_budget",
    "validate_X",
    "validate_labels",
]

log = logging.getLogger(__name__)

METHODS = ("auto", "greedy", "net", "milp", "kcenter")
#: auto: classes up to this many rows (and AUTO_MILP_MAX_EDGES edges) get a MILP polish
AUTO_MILP_MAX_ROWS = 20_000
AUTO_MILP_MAX_EDGES = 3_000_000
#: auto: MILP polish time per class (seconds) unless ``time_limit`` says otherwise
AUTO_MILP_SECONDS = 10.0
#: budget mode with classes: up to this many bytes of prepared float64 rows, ``k`` is split by
#: a farthest-first traversal over all classes (:func:`covering.solvers.allocate_budget`, which
#: holds every class at once); above it, in proportion to the class sizes (:func:`split_budget`)
ALLOCATE_MAX_BYTES = 2 << 30
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
    :func:`cover` and :class:`covering.CoverBuilder`.
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


def split_budget(k: int, sizes: np.ndarray) -> np.ndarray:
    """Split ``k`` centres over classes in proportion to their sizes, >= 1 each, sum <= k.

    Largest-remainder rounding; a class never gets more centres than it has rows.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    c = sizes.shape[0]
    if k < c:
        raise ValueError(
            f"k={k} is smaller than the number of classes ({c}): each class needs "
            "at least one centre"
        )
    share = np.ones(c, dtype=np.int64)
    extra = k - c
    want = sizes / sizes.sum() * k - 1.0
    want = np.clip(want, 0, None)
    if want.sum() > 0:
        want = want / want.sum() * extra
    base = np.floor(want).astype(np.int64)
    share += base
    rest = extra - int(base.sum())
    order = np.argsort(-(want - base), kind="stable")
    share[order[:rest]] += 1
    return np.minimum(share, sizes)


@dataclass
class _ClassResult:
    centres: np.ndarray  # local rows
    centre_of: np.ndarray  # local row of each row's centre
    lower_bound: int | None
    optimal: bool | None
    notes: list[str] = field(default_factory=list)
    method: str = ""


def _assign_from_graph(g: Graph, centres: np.ndarray) -> np.ndarray:
    """Local row of the nearest chosen centre the graph knows, for every row.

    O(edges to chosen centres) memory; ties go to the earlier edge of the row."""
    mark = np.zeros(g.n_cols, dtype=bool)
    mark[centres] = True
    hit = np.flatnonzero(mark[g.indices])
    rows = np.searchsorted(g.indptr, hit, side="right") - 1
    order = np.lexsort((g.dist[hit], rows))
    rows = rows[order]
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else rows
    if first.shape[0] != g.n_rows:
        raise CoverError("internal error: a row has no chosen centre in its neighbourhood")
    return g.indices[hit[order[first]]].astype(np.int64)


def solve_radius(
    Z: np.ndarray,
    eta: float,
    metric: str,
    method: str,
    *,
    seed: int,
    time_limit: float | None,
    bound: bool,
    index: str,
    report: Reporter,
    backend: str = "cpu",
    base: int,
    total: int,
) -> _ClassResult:
    """Cover one class's rows ``Z`` (float64, shape (n, d)) at radius ``eta`` with ``method``;
    indices in the result are rows of ``Z``. Shared by :func:`cover` and
    :class:`covering.CoverBuilder`; progress is reported as rows ``base + done`` of ``total``."""
    n = Z.shape[0]
    if method == "net":
        centres, centre_of = net_cover(Z, eta, metric)
        report("solve", base + n, total)
        return _ClassResult(centres, centre_of, None, None, [], "net")
    if method == "kcenter":
        ff, near, _ = farthest_first(Z, n, metric, seed=seed, target=eta)
        order = np.sort(ff)
        report("solve", base + n, total)
        return _ClassResult(order, ff[near], None, None, [], "kcenter")
    g = build_graph(
        Z,
        eta,
        metric,
        backend=backend,
        index=index,
        seed=seed,
        progress=report.stage("graph", base, total),
    )
    sets = g.transpose(dist=False)
    centres = greedy_cover(g, sets=sets)
    lb: int | None = None
    optimal: bool | None = None
    notes: list[str] = []
    if bound or method in ("auto", "milp"):
        lb, _kind, lp = lower_bound(g, sets)
        if lp is not None and centres.shape[0] > lb:
            # LP-guided greedy: take the candidates the LP sets to 1, break ties by LP value.
            guided = greedy_cover(g, sets=sets, start=np.flatnonzero(lp.x >= 1 - 1e-6), bonus=lp.x)
            if guided.shape[0] < centres.shape[0]:
                centres = guided
    small = n <= AUTO_MILP_MAX_ROWS and g.n_edges <= AUTO_MILP_MAX_EDGES
    proven = lb is not None and centres.shape[0] == lb
    ran_milp = method == "milp" or (method == "auto" and small and not proven)
    if ran_milp:
        limit = (
            time_limit
            if time_limit is not None
            else (AUTO_MILP_SECONDS if method == "auto" else 60.0)
        )
        res = milp_cover(g, time_limit=limit, warm_start=centres, seed=seed)
        if res.centres.shape[0] <= centres.shape[0]:
            centres = res.centres
        if not res.solver_optimal:
            notes.append(
                f"MILP stopped by its {limit:g}s time limit ({res.status}); "
                "best cover found returned"
            )
        elif lb is not None and centres.shape[0] > lb:
            notes.append(
                f"MILP (HiGHS) found no smaller cover, but the certified lower bound is {lb}: "
                "optimality not claimed"
            )
    if lb is not None and lb > centres.shape[0]:
        # cannot happen: the bound is certified on the same canonical graph the cover is of
        raise CoverError(
            f"internal error: certified lower bound {lb} above a cover of "
            f"{centres.shape[0]} centres"
        )
    # optimal only when the size equals a *certified* lower bound (never a solver's word)
    if lb is not None and centres.shape[0] == lb:
        optimal = True
    elif ran_milp:
        optimal = False
    report("solve", base + n, total)
    if not bound and method not in ("auto", "milp"):
        lb = None
    used = (
        "greedy+milp"
        if (method == "auto" and ran_milp)
        else ("greedy" if method == "auto" else method)
    )
    return _ClassResult(centres, _assign_from_graph(g, centres), lb, optimal, notes, used)


def cover(
    X: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    eta: float | None = None,
    k: int | None = None,
    metric: str = "l2",
    method: str = "auto",
    backend: str = "auto",
    seed: int = 0,
    progress: ProgressArg = False,
    time_limit: float | None = None,
    lower_bound: bool = True,
    index: str = "auto",
) -> Cover:
    """Compute a verified (minimal) finite cover of the rows of ``X``.

    Parameters
    ----------
    X : ndarray or np.memmap, shape (n, d), float16/32/64
        The embedding; never modified or copied whole.
    labels : ndarray of int, shape (n,), optional
        With labels, covering is done per class and every centre has its points' label.
    eta : float, optional
        Radius mode: fewest centres with every row within ``eta`` of its centre.
    k : int, optional
        Budget mode: at most ``k`` centres in all with the smallest radius found (with labels,
        split over classes by a farthest-first traversal over all of them, >= 1 each, so
        tight classes do not take centres that spread ones need); ``k >= n`` is taken as
        ``n`` (every row its own centre).
    metric : {"l2", "linf", "cosine"}
        ``cosine`` is ``1 - cos(x, c)``.
    method : {"auto", "greedy", "net", "milp", "kcenter"}
        See docs/engine.md ("Methods"). ``auto``: greedy with a proven lower bound, then a
        time-limited MILP polish (warm-started) on classes small enough; ``kcenter`` in budget
        mode.
    backend : {"auto", "cpu", "gpu", "torch"}
        ``gpu``: FAISS on a GPU; ``torch``: the graph in torch tiles
        (:mod:`covering.torchgraph`, CUDA when torch sees it, else CPU; extra ``[gpu-torch]``);
        ``auto``: ``gpu`` when FAISS sees a GPU, else ``torch`` when torch sees CUDA, else
        ``cpu``. Every backend builds the same graph.
    seed : int
        Seed of the randomised steps (IVF training, farthest-first start).
    progress : bool or callable(stage, done, total)
        ``True`` draws a tqdm bar; a callable receives updates and may raise to cancel.
    time_limit : float, optional
        Seconds of MILP time per class (``milp``: 60, ``auto``: 10 by default).
    lower_bound : bool
        Compute a proven lower bound (LP relaxation or dual degree bound) for graph methods.
    index : {"auto", "flat", "ivf"}
        Index for the neighbour graph (FAISS's, or the torch backend's pruning).

    Returns
    -------
    Cover
        Verified: :func:`covering.verify` holds for it.

    Raises
    ------
    ValueError
        On invalid input, naming the problem.
    """
    t0 = time.perf_counter()
    Xv = validate_X(X)
    release_pages(Xv)
    n, dim = Xv.shape
    e, kk = check_eta_k(eta, k)
    check_metric(metric)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if index not in ("auto", "flat", "ivf"):
        raise ValueError(f"unknown index {index!r}: expected auto, flat or ivf")
    if kk is not None and method not in ("auto", "kcenter"):
        raise ValueError(f"budget mode (k) uses method 'kcenter' or 'auto', not {method!r}")
    if time_limit is not None and not (time_limit > 0):
        raise ValueError(f"time_limit must be > 0, got {time_limit!r}")
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not (0 <= int(seed) < 2**31)
    ):
        raise ValueError(f"seed must be an integer in [0, 2**31), got {seed!r}")
    y = validate_labels(labels, n) if labels is not None else None
    notes: list[str] = []
    if kk is not None and kk > n:  # every row may be its own centre (radius 0)
        notes.append(f"k={kk} is more than the {n} rows: taken as k={n}")
        kk = n
    resolved_backend = resolve_backend(backend)

    classes = (
        [np.arange(n, dtype=np.int64)]
        if y is None
        else [np.flatnonzero(y == v) for v in np.unique(y)]
    )
    budgets = None
    prepared: dict[int, np.ndarray] = {}
    report = Reporter(progress)
    if kk is not None:
        sizes = np.array([c.shape[0] for c in classes])
        budgets = split_budget(kk, sizes)  # also checks k >= number of classes
        if len(classes) > 1 and n * dim * 8 <= ALLOCATE_MAX_BYTES:
            try:
                done = 0
                for ci, rows in enumerate(classes):
                    report("prepare", done, n)
                    prepared[ci] = prepare(Xv[rows], metric)
                    done += rows.shape[0]
                report("allocate", 0, n)
                budgets = allocate_budget(
                    [prepared[ci] for ci in range(len(classes))], kk, metric, seed=seed
                )
            except BaseException:
                report.close()
                raise
        elif len(classes) > 1:
            notes.append(
                "budget split in proportion to class sizes (the data is too large "
                "to allocate it by farthest-first over all classes)"
            )

    centre_rows: list[np.ndarray] = []
    centre_of = np.empty(n, dtype=np.int64)
    lbs: list[int | None] = []
    used: set[str] = set()
    optimal: list[bool | None] = []
    base = 0
    try:
        for ci, rows in enumerate(classes):
            Z = prepared.pop(ci) if ci in prepared else prepare(Xv[rows], metric)
            release_pages(Xv)
            if budgets is not None:
                report("kcenter", base, n)  # budget mode reports per class (and may cancel)
                c, near, _ = kcenter_cover(Z, int(budgets[ci]), metric, seed=seed)
                res = _ClassResult(c, c[near], None, None, [], "kcenter")
                report("solve", base + rows.shape[0], n)
            else:
                assert e is not None
                res = solve_radius(
                    Z,
                    e,
                    metric,
                    method,
                    seed=seed,
                    time_limit=time_limit,
                    bound=lower_bound,
                    index=index,
                    report=report,
                    base=base,
                    total=n,
                    backend=resolved_backend,
                )
            centre_rows.append(rows[res.centres])
            centre_of[rows] = rows[res.centre_of]
            lbs.append(res.lower_bound)
            used.add(res.method)
            optimal.append(res.optimal)
            notes.extend(f"class {ci}: {m}" for m in res.notes)
            base += rows.shape[0]
            del Z
        indices = np.sort(np.concatenate(centre_rows))
        report("verify", 0, n)
        dist = assigned_distances(Xv, centre_of, metric)
        release_pages(Xv)
        report("verify", n, n)
    finally:
        report.close()
    lb_total = None if any(b is None for b in lbs) else int(sum(b for b in lbs if b is not None))
    opt = None if any(o is None for o in optimal) else all(bool(o) for o in optimal)
    return assemble_cover(
        Xv,
        y,
        indices,
        centre_of,
        dist=dist,
        eta=e,
        k=kk,
        metric=metric,
        method="greedy+milp" if "greedy+milp" in used else (used.pop() if used else method),
        lower_bound=lb_total,
        optimal=opt,
        labels_fingerprint=None if labels is None else fingerprint(np.asarray(labels)),
        backend=resolved_backend,
        seed=int(seed),
        notes=notes,
        t0=t0,
    )


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
