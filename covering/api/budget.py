"""Budget mode (``k`` centres in all): how ``k`` is split over the classes, and the k-center
cover of one class."""

from __future__ import annotations

import numpy as np

from covering.api.problem import ClassResult
from covering.metrics import prepare
from covering.progress import Reporter
from covering.solvers import allocate_budget, kcenter_cover

__all__ = ["ALLOCATE_MAX_BYTES", "class_budgets", "solve_budget", "split_budget"]

#: budget mode with classes: up to this many bytes of prepared float64 rows, ``k`` is split by
#: a farthest-first traversal over all classes (:func:`covering.solvers.allocate_budget`, which
#: holds every class at once); above it, in proportion to the class sizes (:func:`split_budget`)
ALLOCATE_MAX_BYTES = 2 << 30


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


def class_budgets(
    X: np.ndarray,
    classes: list[np.ndarray],
    k: int,
    metric: str,
    *,
    seed: int,
    report: Reporter,
    notes: list[str],
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The number of centres of each class (>= 1 each, sum <= ``k``).

    With several classes and up to :data:`ALLOCATE_MAX_BYTES` of prepared rows, a farthest-first
    traversal over all classes decides (:func:`covering.solvers.allocate_budget`); otherwise
    :func:`split_budget` (and a note in ``notes`` says so).

    Parameters
    ----------
    X : ndarray, shape (n, d), validated
    classes : list of ndarray of int64
        The rows of each class.
    k : int
    metric : str
    seed : int
    report : Reporter
        Stages ``prepare`` and ``allocate``; closed if they raise.
    notes : list of str
        Appended to.

    Returns
    -------
    budgets : ndarray of int64, shape (len(classes),)
    prepared : dict of int to ndarray
        The classes' prepared rows computed on the way (to be reused by the caller).

    Raises
    ------
    ValueError
        ``k`` is smaller than the number of classes.
    """
    n, dim = X.shape
    prepared: dict[int, np.ndarray] = {}
    sizes = np.array([c.shape[0] for c in classes])
    budgets = split_budget(k, sizes)  # also checks k >= number of classes
    if len(classes) > 1 and n * dim * 8 <= ALLOCATE_MAX_BYTES:
        try:
            done = 0
            for ci, rows in enumerate(classes):
                report("prepare", done, n)
                prepared[ci] = prepare(X[rows], metric)
                done += rows.shape[0]
            report("allocate", 0, n)
            budgets = allocate_budget(
                [prepared[ci] for ci in range(len(classes))], k, metric, seed=seed
            )
        except BaseException:
            report.close()
            raise
    elif len(classes) > 1:
        notes.append(
            "budget split in proportion to class sizes (the data is too large "
            "to allocate it by farthest-first over all classes)"
        )
    return budgets, prepared


def solve_budget(
    Z: np.ndarray, k: int, metric: str, *, seed: int, report: Reporter, base: int, total: int
) -> ClassResult:
    """The k-center cover of one class's rows ``Z`` (float64 (m, d), prepared) with ``k``
    centres (:func:`covering.solvers.kcenter_cover`); progress as rows ``base + done`` of
    ``total`` (stages ``kcenter``, which may cancel, and ``solve``)."""
    report("kcenter", base, total)  # budget mode reports per class (and may cancel)
    c, near, _ = kcenter_cover(Z, k, metric, seed=seed)
    report("solve", base + Z.shape[0], total)
    return ClassResult(c, c[near], None, None, [], "kcenter")
