"""``cover()``: validation at the boundary, per-class solving, assignment and exact verification.

A thin driver of the parts: :mod:`~covering.api.validate` (the checks),
:mod:`~covering.graph.build` (the backend), :mod:`~covering.api.budget` (budget mode),
:mod:`~covering.api.solve` with the method registry :mod:`~covering.api.methods` (radius mode)
and :mod:`~covering.api.assemble` (the verified :class:`covering.Cover`).
"""

from __future__ import annotations

import time

import numpy as np

from covering.api.assemble import assemble_cover
from covering.api.budget import class_budgets, solve_budget
from covering.api.solve import solve_radius
from covering.api.validate import (
    check_eta_k,
    check_options,
    release_pages,
    validate_labels,
    validate_X,
)
from covering.fingerprint import fingerprint
from covering.graph.build import resolve_backend
from covering.metrics import prepare
from covering.progress import ProgressArg, Reporter
from covering.result import Cover
from covering.verify import assigned_distances

__all__ = ["cover"]


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
    n = Xv.shape[0]
    e, kk = check_eta_k(eta, k)
    check_options(
        metric=metric,
        method=method,
        backend=backend,
        index=index,
        budget=kk is not None,
        time_limit=time_limit,
        seed=seed,
    )
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
    report = Reporter(progress)
    budgets: np.ndarray | None = None
    prepared: dict[int, np.ndarray] = {}
    if kk is not None:
        budgets, prepared = class_budgets(
            Xv, classes, kk, metric, seed=seed, report=report, notes=notes
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
                res = solve_budget(
                    Z, int(budgets[ci]), metric, seed=seed, report=report, base=base, total=n
                )
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
