"""The parameters of a sharded cover, checked once on the driver and sent with every task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from covering.api.validate import check_eta_k, check_index
from covering.graph.ivf import INDEXES
from covering.metrics import check_metric

__all__ = ["INDEXES", "LOCAL_METHODS", "ProgressFn", "TaskHook", "check_params"]

#: local methods a shard may use (radius mode)
LOCAL_METHODS = ("auto", "greedy", "net")

TaskHook = Callable[[str, int], None]
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class _Params:
    """What every task needs besides its shard (pickled once per task)."""

    eta: float
    metric: str
    method: str
    rounds: int
    seed: int
    index: str
    column: str
    label_column: str | None
    on_task: TaskHook | None


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_params(
    search: tuple[object, str, str, int, int, str],
    reading: tuple[str, str | None, TaskHook | None],
    *,
    rows_per_shard: int | None,
    max_retries: int,
) -> _Params:
    """Check the arguments of :func:`covering.distributed.cover_shards`; return the task
    parameters (``method="auto"`` resolved to ``"greedy"``).

    Parameters
    ----------
    search : tuple
        ``(eta, metric, method, rounds, seed, index)``; ``eta`` and ``metric`` are checked as
        :func:`covering.cover` checks them.
    reading : tuple
        ``(column, label_column, on_task)``, taken as they are.
    rows_per_shard, max_retries : int
        Checked here, used by the driver.

    Raises
    ------
    ValueError
        Naming the first invalid argument.
    """
    eta, metric, method, rounds, seed, index = search
    radius, _ = check_eta_k(eta, None)
    assert radius is not None
    check_metric(metric)
    if method not in LOCAL_METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(LOCAL_METHODS)}")
    check_index(index)
    _positive_int("rounds", rounds)
    if rows_per_shard is not None:
        _positive_int("rows_per_shard", rows_per_shard)
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    resolved = "greedy" if method == "auto" else method
    return _Params(radius, metric, resolved, rounds, int(seed), index, *reading)
