"""The driver of a sharded cover: :func:`cover_shards` runs the stages as Ray tasks over the
shards, solves the set cover, assembles the :class:`~covering.Cover` and verifies it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import ray

from covering.distributed.params import ProgressFn, TaskHook, _Params, check_params
from covering.distributed.session import _ray_session
from covering.distributed.shards import _blocks, _prepare_shards
from covering.distributed.stats import CommStats, ShardedCover
from covering.distributed.tasks import _assign_task, _coverage_task, _local_cover_task
from covering.distributed.verification import _verify_sharded
from covering.fingerprint import fingerprint, fingerprint_stream
from covering.graph import Graph
from covering.result import Cover
from covering.solvers import greedy_cover

__all__ = ["cover_shards"]

log = logging.getLogger(__name__)


def _nbytes(obj: Any) -> int:
    """Bytes of the arrays inside a (nested) result."""
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return 0


def cover_shards(
    shard_paths: Any,
    label_paths: Sequence[Any] | None = None,
    *,
    eta: float,
    metric: str = "l2",
    address: str | None = None,
    seed: int = 0,
    method: str = "greedy",
    rounds: int = 2,
    index: str = "auto",
    num_gpus: float | None = None,
    max_retries: int = 3,
    rows_per_shard: int | None = None,
    column: str = "x",
    label_column: str | None = None,
    on_task: TaskHook | None = None,
    progress: ProgressFn | None = None,
) -> Cover:
    """Cover the concatenation of shards on a Ray cluster; exact and verified.

    Parameters
    ----------
    shard_paths : list of str/Path (``.npy``, shape (n_i, d)), list of ndarray, or a Ray Dataset
        The rows, in order; paths must be readable by every worker (shared storage), and are
        memory-mapped. All shards share one float dtype and width ``d``. A Ray Dataset gives one
        shard per block, its rows in the column ``column``.
    label_paths : list of str/Path (``.npy``, shape (n_i,)) or ndarray, optional
        Integer labels, one per shard (with a Dataset: ``label_column`` instead).
    eta : float
        Radius (> 0): every row ends within ``eta`` of a centre of its label.
    metric : {"l2", "linf", "cosine"}
    address : str, optional
        Ray cluster address (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``). Without it
        (and without ``$RAY_ADDRESS``), an initialised Ray is reused, else a private local
        instance is started and shut down after.
    seed : int
    method : {"greedy", "auto", "net"}
        Local candidates (stage 1): ``greedy`` (or ``auto``) covers on each class's eta-graph;
        ``net`` one streaming pass (no graph in memory: for shards whose eta-graph is too dense;
        one round).
    rounds : int
        Disjoint local greedy covers per shard whose centres become candidates (>= 1). One
        round is the plain algorithm; two (the default) cost about 1.6x the candidate
        broadcast and bring the size much closer to a single-machine greedy cover.
    index : {"auto", "flat", "ivf"}
        FAISS index for the range searches.
    num_gpus : float, optional
        GPUs per local-cover task; default 1 when the cluster has GPUs, else 0.
    max_retries : int
        Ray retries of a task whose worker died (node loss, crash).
    rows_per_shard : int, optional
        Cut larger files/arrays into row ranges of at most this many rows, one task each (e.g.
        one big memory-mapped ``.npy`` on shared storage).
    column, label_column : str
        Columns of a Ray Dataset.
    on_task : callable(stage, shard), optional
        Called in the worker at the start of every task (``stage`` in ``"local"``,
        ``"coverage"``, ``"assign"``); for tracing and fault injection.
    progress : callable(stage, done, total), optional
        Called on the driver as shards finish each stage (``"local"``, ``"coverage"``,
        ``"assign"``: done/total shards; ``"solve"``, ``"verify"``: 0/1 then 1/1). An exception
        raised inside it cancels the outstanding tasks and propagates (job cancellation).

    Returns
    -------
    Cover
        A :class:`ShardedCover` (a :class:`~covering.Cover`): global row indices, weights
        and assignment; ``method="ray-greedy"`` (or ``"ray-net"``); ``lower_bound=None``;
        ``comm`` holds the communication volume (:class:`CommStats`, as a dict:
        :func:`comm_stats`), which ``notes`` also carry as text. Verified with
        :func:`covering.verify`, shard by shard, before it is returned.

    Raises
    ------
    ValueError
        Invalid input (naming the shard), or a task's ``ValueError``.
    """
    t0 = time.perf_counter()
    params = check_params(
        (eta, metric, method, rounds, seed, index),
        (column, label_column, on_task),
        rows_per_shard=rows_per_shard,
        max_retries=max_retries,
    )
    with _ray_session(address):
        return _run(
            shard_paths, label_paths, t0, params, num_gpus, max_retries, rows_per_shard, progress
        )


def _run(
    shard_paths: Any,
    label_paths: Sequence[Any] | None,
    t0: float,
    params: _Params,
    num_gpus: float | None,
    max_retries: int,
    rows_per_shard: int | None,
    progress: ProgressFn | None,
) -> ShardedCover:
    shards, dtype, dim, y = _prepare_shards(
        shard_paths, label_paths, params.column, params.label_column, rows_per_shard
    )
    n = sum(s.n for s in shards)
    offsets = np.cumsum([0] + [s.n for s in shards])
    if num_gpus is None:
        num_gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    opts = {"max_retries": max_retries, "retry_exceptions": False}
    local_t = ray.remote(_local_cover_task).options(num_gpus=num_gpus, **opts)
    cover_t = ray.remote(_coverage_task).options(**opts)
    assign_t = ray.remote(_assign_task).options(**opts)
    timings: dict[str, float] = {}

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    # 1. local covers -> candidates
    t = time.perf_counter()
    locals_ = _gather(
        [local_t.remote(s.src, s.lab, params, i) for i, s in enumerate(shards)], "local", report
    )
    timings["local"] = time.perf_counter() - t
    gather = _nbytes(locals_)
    cand_idx = np.concatenate(
        [o + r["centres"] for o, r in zip(offsets[:-1], locals_, strict=True)]
    )
    cands: dict[str, Any] = {
        "rows": np.concatenate([r["rows"] for r in locals_]),
        "labels": None if y is None else np.concatenate([r["labels"] for r in locals_]),
    }
    backend = "gpu" if any(r["backend"] == "gpu" for r in locals_) else "cpu"
    k = int(cand_idx.shape[0])
    del locals_

    # 2. broadcast candidates, coverage lists
    t = time.perf_counter()
    broadcast = _nbytes(cands)
    cands_ref = ray.put(cands)
    lists = _gather(
        [cover_t.remote(s.src, s.lab, cands_ref, params, i) for i, s in enumerate(shards)],
        "coverage",
        report,
    )
    timings["coverage"] = time.perf_counter() - t
    coverage = _nbytes(lists)

    # 3. set cover on the driver
    report("solve", 0, 1)
    t = time.perf_counter()
    counts = np.concatenate([np.diff(ip.astype(np.int64)) for ip, _ in lists])
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    cols = np.concatenate([c for _, c in lists])
    del lists
    g = Graph(indptr, cols, np.zeros(cols.shape[0], dtype=np.float32), k, params.eta)
    chosen = greedy_cover(g)
    edges = g.n_edges
    del g, cols
    timings["solve"] = time.perf_counter() - t
    report("solve", 1, 1)

    # 4. assignment
    t = time.perf_counter()
    chosen_ref = ray.put(chosen)
    res = _gather(
        [
            assign_t.remote(s.src, s.lab, cands_ref, chosen_ref, params, i)
            for i, s in enumerate(shards)
        ],
        "assign",
        report,
    )
    timings["assign"] = time.perf_counter() - t
    assign_bytes = _nbytes(res) + int(chosen.nbytes)
    best = np.concatenate([b.astype(np.int64) for b, _ in res])
    dist = np.concatenate([d for _, d in res])
    del res, cands_ref, chosen_ref

    indices = cand_idx[chosen]
    assignment = np.searchsorted(chosen, best).astype(np.int64)
    weights = np.bincount(assignment, minlength=indices.shape[0]).astype(np.int64)
    comm = CommStats(len(shards), k, gather, broadcast, coverage, edges, assign_bytes)
    log.info("%s", comm.note())
    log.info("ray stages: %s", _stages(timings))

    report("verify", 0, 1)
    t = time.perf_counter()
    fp = fingerprint_stream(dtype, (n, dim), _blocks(shards))
    cov = ShardedCover(
        indices=indices.astype(np.int64),
        weights=weights,
        assignment=assignment,
        labels=None if y is None else y[indices].astype(np.int64),
        eta=params.eta,
        radius=float(dist.max()),
        metric=params.metric,
        method=f"ray-{params.method}",
        n=n,
        dim=dim,
        lower_bound=None,
        fingerprint=fp,
        labels_fingerprint=None if y is None else fingerprint(y),
        distances=dist,
        dtype=str(dtype),
        backend=backend,
        seed=params.seed,
        optimal=None,
        comm=comm,
    )
    _verify_sharded(shards, offsets, y, cov)
    timings["verify"] = time.perf_counter() - t
    report("verify", 1, 1)
    cov = replace(
        cov,
        seconds=time.perf_counter() - t0,
        notes=(comm.note(), f"ray stages: {_stages(timings)}"),
    )
    log.info("cover_shards: %s", cov.summary())
    return cov


def _gather(refs: list[Any], stage: str, report: ProgressFn) -> list[Any]:
    """``ray.get(refs)`` in order, reporting each finished task; cancel the rest on error."""
    index = {ref: i for i, ref in enumerate(refs)}
    out: list[Any] = [None] * len(refs)
    pending = list(refs)
    try:
        report(stage, 0, len(refs))
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                out[index[ref]] = ray.get(ref)
            report(stage, len(refs) - len(pending), len(refs))
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise
    return out


def _stages(timings: dict[str, float]) -> str:
    """``local=1.20s coverage=...``: the seconds of each stage so far."""
    return " ".join(f"{key}={v:.2f}s" for key, v in timings.items())
