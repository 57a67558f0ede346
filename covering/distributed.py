"""Covers of sharded data on a Ray cluster, with the exact guarantee kept end to end (extra [ray]).

The data never has to fit on one machine; every step is a Ray task over one shard:

1. **local covers** - each shard is covered on its own (:func:`covering.cover`, greedy; one GPU
   per task when the cluster has GPUs). The union of the local centres is the *candidate set*;
   it always admits a cover, since each shard is covered by its own centres.
2. **coverage lists** - the candidates (rows, labels) are broadcast once with ``ray.put``; each
   shard lists, for every one of its rows, the candidates of the same label within ``eta``
   (the canonical float64 decision of :class:`covering.graph.RangeIndex`, the same as
   :func:`covering.verify`'s) and returns them as compact CSR
   arrays (int32 where possible).
3. **set cover** - the driver solves set cover over the candidates on those lists
   (:func:`covering.solvers.greedy_cover`: lazy greedy, then redundancy removal).
4. **assignment** - each shard assigns its rows to their nearest chosen candidate within
   ``eta`` and returns their canonical distances (:func:`covering.metrics.exact_distances`).

The driver assembles an ordinary :class:`covering.Cover` (global row indices, weights,
fingerprints equal to those of the concatenated data) and verifies it exactly, shard by shard in
blocks, before returning it. Communication volume (bytes of the candidate gather and broadcast,
of the coverage lists and of the assignments) is logged and recorded in ``Cover.notes``; read it
back with :func:`comm_stats`.

Only this module imports Ray (at its top, so a missing Ray is an ``ImportError`` on import,
which ``covering cover --ray`` reports as a one-line error); ``covering`` itself never imports
it and works without it.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from covering.api import validate_X
from covering.data import load_npy
from covering.fingerprint import fingerprint, fingerprint_stream
from covering.graph import Graph, RangeIndex, eta_graph, gpu_available
from covering.metrics import check_metric, exact_distances, prepare
from covering.result import Cover, CoverError
from covering.solvers import greedy_cover
from covering.verify import verify

try:
    import ray
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("covering.distributed needs Ray: pip install 'covering[ray]'") from exc

__all__ = ["comm_stats", "cover_shards"]

log = logging.getLogger(__name__)

#: rows per block when a task or the driver walks through a shard
BLOCK_ROWS = 65_536
#: local methods a shard may use (radius mode)
LOCAL_METHODS = ("auto", "greedy", "net")
_INT32_MAX = int(np.iinfo(np.int32).max)
_COMM_RE = re.compile(r"(\w+)=(\d+)")

TaskHook = Callable[[str, int], None]
ProgressFn = Callable[[str, int, int], None]
Source = Any  # str path | ndarray | dict of column -> ndarray (a Ray Dataset block)


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


# --------------------------------------------------------------------------- shard access


def _x_of(src: Source, column: str) -> np.ndarray:
    """The (n_s, d) rows of a shard source (a memmap for paths)."""
    if isinstance(src, str):
        return load_npy(src)
    if isinstance(src, tuple):  # a row range of a file
        path, start, stop = src
        return load_npy(path)[start:stop]
    if isinstance(src, dict):
        if column not in src:
            raise ValueError(f"dataset block has no column {column!r} (columns: {sorted(src)})")
        arr = np.asarray(src[column])
        if arr.dtype == object:  # a column of per-row arrays
            arr = np.stack([np.asarray(r) for r in arr])
        return arr
    return np.asarray(src)


def _y_of(lab: Source | None, src: Source, label_column: str | None) -> np.ndarray | None:
    """The (n_s,) int64 labels of a shard, or None."""
    if label_column is not None and isinstance(src, dict):
        if label_column not in src:
            raise ValueError(f"dataset block has no label column {label_column!r}")
        return np.asarray(src[label_column]).astype(np.int64)
    if lab is None:
        return None
    if isinstance(lab, tuple):
        path, start, stop = lab
        return np.asarray(load_npy(path)[start:stop], dtype=np.int64)
    y = load_npy(lab, mmap=False) if isinstance(lab, str) else np.asarray(lab)
    return y.astype(np.int64)


def _int_array(a: np.ndarray, limit: int) -> np.ndarray:
    """``a`` as int32 when every value fits (``limit`` is the largest possible value)."""
    return a.astype(np.int32 if limit <= _INT32_MAX else np.int64, copy=False)


class _LabelIndex:
    """Range search of query rows against the candidates that carry their label.

    Parameters
    ----------
    C : ndarray, shape (k, d), original dtype
        Candidate rows (not prepared).
    c_labels : ndarray of int64, shape (k,), or None
    pos : ndarray of int64, shape (k,)
        Id returned for each candidate (its position in the global candidate list).
    """

    def __init__(
        self, C: np.ndarray, c_labels: np.ndarray | None, pos: np.ndarray, params: _Params
    ) -> None:
        self.params = params
        self.groups: dict[int | None, tuple[np.ndarray, np.ndarray]] = {}
        keys: list[int | None] = (
            [None] if c_labels is None else [int(v) for v in np.unique(c_labels)]
        )
        for key in keys:
            sel = np.arange(C.shape[0]) if key is None else np.flatnonzero(c_labels == key)
            Z = prepare(C[sel], params.metric)
            self.groups[key] = (pos[sel], Z)
        self._index: dict[int | None, RangeIndex] = {}
        self._flat: dict[int | None, RangeIndex] = {}

    def _get(self, key: int | None, flat: bool) -> RangeIndex:
        cache = self._flat if flat else self._index
        if key not in cache:
            _, Z = self.groups[key]
            cache[key] = RangeIndex(
                Z,
                self.params.metric,
                index="flat" if flat else self.params.index,
                seed=self.params.seed,
            )
        return cache[key]

    def search(
        self, X: np.ndarray, y: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges ``(row, candidate id, distance)`` with exact distance ``<= eta``.

        Rows are positions in ``X`` (shape (b, d)); within a row, edges come nearest first.
        A row an approximate index left without any edge is searched again exactly (flat), so
        no row loses a candidate that lies within ``eta``.
        """
        eta = self.params.eta
        parts_r, parts_c, parts_d = [], [], []
        keys: list[int | None] = [None] if y is None else [int(v) for v in np.unique(y)]
        for key in keys:
            rows = np.arange(X.shape[0]) if key is None else np.flatnonzero(y == key)
            if key not in self.groups:
                continue  # no candidate of this label: its rows stay uncovered (caught later)
            ids = self.groups[key][0]
            Q = prepare(X[rows], self.params.metric)
            g = self._get(key, flat=False).search(Q, eta)
            deg = g.degrees()
            if np.any(deg == 0) and self._get(key, flat=False).kind != "flat":
                miss = np.flatnonzero(deg == 0)
                g = _merge_rows(g, miss, self._get(key, flat=True).search(Q[miss], eta))
                deg = g.degrees()
            parts_r.append(np.repeat(rows, deg))
            parts_c.append(ids[g.indices])
            parts_d.append(g.dist)
        if not parts_r:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        r, c, d = np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_d)
        order = np.lexsort((d, r))
        return r[order], c[order], d[order]


def _merge_rows(g: Graph, rows: np.ndarray, extra: Graph) -> Graph:
    """``g`` with the (empty) ``rows`` replaced by the rows of ``extra``."""
    src = np.repeat(np.arange(g.n_rows, dtype=np.int64), g.degrees())
    r = np.concatenate([src, np.repeat(rows, extra.degrees())])
    c = np.concatenate([g.indices, extra.indices])
    d = np.concatenate([g.dist, extra.dist])
    order = np.lexsort((d, r))
    indptr = np.zeros(g.n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=g.n_rows), out=indptr[1:])
    return Graph(indptr, c[order], d[order], g.n_cols, g.eta)


# --------------------------------------------------------------------------- the Ray tasks


def _local_graph(Z: np.ndarray, params: _Params) -> tuple[Graph, str]:
    """The eta-graph of one class of a shard, on the GPU when this worker has one."""
    if gpu_available():
        try:
            from covering.gpu import eta_graph_gpu

            return eta_graph_gpu(Z, params.eta, params.metric), "gpu"
        except ImportError:  # pragma: no cover - GPU FAISS without the GPU graph module
            pass
    return eta_graph(Z, params.eta, params.metric, index=params.index, seed=params.seed), "cpu"


def _greedy_rounds(g: Graph, rounds: int) -> np.ndarray:
    """Candidate centres of one class: ``rounds`` disjoint greedy covers of its eta-graph.

    Round 1 is a cover of every row. Round ``r > 1`` greedily covers, with points not chosen
    before, the rows that still have such a neighbour; the extra candidates give the driver's
    set cover alternatives that a single local cover does not see.

    Returns
    -------
    ndarray of int64, sorted: columns of ``g``.
    """
    chosen = greedy_cover(g)
    for _ in range(rounds - 1):
        used = np.zeros(g.n_cols, dtype=bool)
        used[chosen] = True
        keep = ~used[g.indices]
        g2 = g.restrict(g.eta, keep)
        deg = g2.degrees()
        live = deg > 0
        if not live.any():
            break
        sub = Graph(
            np.concatenate([[0], np.cumsum(deg[live])]), g2.indices, g2.dist, g.n_cols, g.eta
        )
        chosen = np.union1d(chosen, greedy_cover(sub))
    return chosen


def _local_cover_task(
    src: Source, lab: Source | None, params: _Params, shard: int
) -> dict[str, Any]:
    """Stage 1: cover one shard on its own; return its candidate centres (rows and data)."""
    if params.on_task is not None:
        params.on_task("local", shard)
    X = validate_X(_x_of(src, params.column))  # rejects NaN/inf, blockwise
    y = _y_of(lab, src, params.label_column)
    if params.method == "net":
        import covering

        cov = covering.cover(
            X,
            y,
            eta=params.eta,
            metric=params.metric,
            method="net",
            seed=params.seed,
            lower_bound=False,
            index=params.index,
        )
        centres, backend = cov.indices, cov.backend
    else:
        groups = (
            [np.arange(X.shape[0])] if y is None else [np.flatnonzero(y == v) for v in np.unique(y)]
        )
        found: list[np.ndarray] = []
        backend = "cpu"
        for rows in groups:
            g, backend = _local_graph(prepare(X[rows], params.metric), params)
            found.append(rows[_greedy_rounds(g, params.rounds)])
        centres = np.sort(np.concatenate(found))
    return {
        "centres": centres.astype(np.int64),
        "rows": np.ascontiguousarray(X[centres]),
        "labels": None if y is None else y[centres],
        "backend": backend,
    }


def _coverage_task(
    src: Source, lab: Source | None, cands: dict[str, Any], params: _Params, shard: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2: for every row, the same-label candidates within eta (CSR over candidate ids)."""
    if params.on_task is not None:
        params.on_task("coverage", shard)
    X = _x_of(src, params.column)
    y = _y_of(lab, src, params.label_column)
    n = X.shape[0]
    k = int(cands["rows"].shape[0])
    li = _LabelIndex(cands["rows"], cands["labels"], np.arange(k, dtype=np.int64), params)
    counts = np.zeros(n, dtype=np.int64)
    cols: list[np.ndarray] = []
    for s in range(0, n, BLOCK_ROWS):
        e = min(n, s + BLOCK_ROWS)
        r, c, _ = li.search(np.asarray(X[s:e]), None if y is None else y[s:e])
        counts[s:e] = np.bincount(r, minlength=e - s)
        cols.append(_int_array(c, k))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return _int_array(indptr, int(indptr[-1])), (
        np.concatenate(cols) if cols else np.zeros(0, np.int32)
    )


def _assign_task(
    src: Source,
    lab: Source | None,
    cands: dict[str, Any],
    chosen: np.ndarray,
    params: _Params,
    shard: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 4: nearest chosen candidate within eta of every row, and its exact distance."""
    if params.on_task is not None:
        params.on_task("assign", shard)
    X = _x_of(src, params.column)
    y = _y_of(lab, src, params.label_column)
    n = X.shape[0]
    C = cands["rows"][chosen]
    cl = None if cands["labels"] is None else cands["labels"][chosen]
    li = _LabelIndex(C, cl, np.asarray(chosen, dtype=np.int64), params)
    Z = prepare(C, params.metric)
    where = np.searchsorted(chosen, np.arange(cands["rows"].shape[0]))
    best = np.full(n, -1, dtype=np.int64)
    dist = np.zeros(n)
    for s in range(0, n, BLOCK_ROWS):
        e = min(n, s + BLOCK_ROWS)
        Xb = np.asarray(X[s:e])
        r, c, _ = li.search(Xb, None if y is None else y[s:e])
        if r.size:
            first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
            best[s + r[first]] = c[first]
        blk = best[s:e]
        if np.any(blk < 0):
            i = s + int(np.flatnonzero(blk < 0)[0])
            raise CoverError(f"shard {shard}: row {i} has no chosen centre within eta")
        dist[s:e] = exact_distances(prepare(Xb, params.metric), Z[where[blk]], params.metric)
    return _int_array(best, int(cands["rows"].shape[0])), dist


# --------------------------------------------------------------------------- the driver


@dataclass(frozen=True)
class _Reader:
    """Reads a shard's rows on the driver: memmap a path, return an array, or fetch a block."""

    path: str | None = None
    array: np.ndarray | None = None
    ref: Any = None
    column: str = "x"
    start: int = 0
    stop: int | None = None

    def __call__(self) -> np.ndarray:
        if self.path is not None:
            return load_npy(self.path)[self.start : self.stop]
        if self.array is not None:
            return self.array
        return _x_of(ray.get(self.ref), self.column)


@dataclass
class _Shard:
    """A shard as the driver sees it: what to send to tasks and how to read it back."""

    src: Any  # str path, (path, start, stop), or an ObjectRef (ndarray / dict block)
    lab: Any  # str path, (path, start, stop), ObjectRef, or None
    n: int
    read: _Reader


_session_lock = threading.Lock()
_session_users = 0  # running calls on a Ray that this module initialised
_session_ours = False  # whether the current Ray connection was made here


@contextmanager
def _ray_session(address: str | None) -> Iterator[None]:
    """Use Ray for one call; thread-safe (the service runs several jobs at once).

    An initialised Ray is reused as is. Otherwise ``address`` (or ``$RAY_ADDRESS``) names the
    cluster (``"auto"``: the one ``ray start`` runs on this machine); without either, a private
    local instance is started, never an unrelated cluster found on the machine. A connection
    made here is closed when the last call using it returns.
    """
    global _session_users, _session_ours
    with _session_lock:
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            if address:
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
            _session_ours = True
        ours = _session_ours
        if ours:
            _session_users += 1
    try:
        yield
    finally:
        if ours:
            with _session_lock:
                _session_users -= 1
                if _session_users == 0 and _session_ours:
                    ray.shutdown()
                    _session_ours = False


def _check_shape(x_shape: tuple[int, ...], dtype: np.dtype, i: int) -> None:
    if len(x_shape) != 2:
        raise ValueError(f"shard {i}: expected a 2-D (n, d) array, got shape {x_shape}")
    if dtype.kind != "f":
        raise ValueError(f"shard {i}: expected float16/32/64 rows, got dtype {dtype}")


def _pieces(n: int, rows_per_shard: int | None) -> list[tuple[int, int]]:
    """Row ranges ``[a, b)`` cutting ``n`` rows into near-equal pieces of at most the limit."""
    if n == 0:
        return []
    k = 1 if rows_per_shard is None else -(-n // rows_per_shard)
    cuts = np.linspace(0, n, k + 1).round().astype(np.int64)
    return list(itertools.pairwise(int(c) for c in cuts))


def _prepare_shards(
    shards: Any,
    label_paths: Sequence[Any] | None,
    column: str,
    label_column: str | None,
    rows_per_shard: int | None = None,
) -> tuple[list[_Shard], np.dtype, int, np.ndarray | None]:
    """Validate the inputs at the boundary; return shards, dtype, dim and all labels.

    Files and arrays with more than ``rows_per_shard`` rows are cut into row ranges (one task
    each; a file is memory-mapped by every task that reads a range of it).
    """
    if hasattr(shards, "to_numpy_refs"):  # a Ray Dataset: one shard per block
        if label_paths is not None:
            raise ValueError("with a Ray Dataset give label_column=, not label paths")
        items: list[Any] = list(shards.to_numpy_refs())
        labs: list[Any] = [None] * len(items)
    else:
        if isinstance(shards, (str, os.PathLike, np.ndarray)):
            raise ValueError("shards must be a list of paths/arrays (or a Ray Dataset)")
        items = list(shards)
        if label_paths is not None and len(label_paths) != len(items):
            raise ValueError(f"{len(items)} shard(s) but {len(label_paths)} label shard(s)")
        labs = list(label_paths) if label_paths is not None else [None] * len(items)
    if not items:
        raise ValueError("no shards given")
    out: list[_Shard] = []
    ys: list[np.ndarray] = []
    dtype: np.dtype | None = None
    dim = -1
    for i, (item, lab) in enumerate(zip(items, labs, strict=True)):
        path: str | None = None
        if isinstance(item, (str, os.PathLike)):
            path = str(Path(item).resolve())
            X = load_npy(path)
        elif isinstance(item, np.ndarray):
            X = item
        else:  # an ObjectRef of a Dataset block
            X = _x_of(ray.get(item), column)
        _check_shape(X.shape, X.dtype, i)
        if dtype is None:
            dtype, dim = X.dtype, int(X.shape[1])
        elif X.dtype != dtype or X.shape[1] != dim:
            raise ValueError(
                f"shard {i} is {X.dtype} (n, {X.shape[1]}) but shard 0 is "
                f"{dtype} (n, {dim}): all shards need the same dtype and width"
            )
        n_i = int(X.shape[0])
        y: np.ndarray | None = None
        lab_path: str | None = None
        if lab is not None:
            if isinstance(lab, (str, os.PathLike)):
                lab_path = str(Path(lab).resolve())
                y = load_npy(lab_path, mmap=False)
            else:
                y = np.asarray(lab)
        elif label_column is not None and not isinstance(item, (str, os.PathLike, np.ndarray)):
            y = _y_of(None, ray.get(item), label_column)
        if y is not None:
            if y.ndim != 1 or y.shape[0] != n_i:
                raise ValueError(f"label shard {i} has shape {y.shape}, expected ({n_i},)")
            if y.dtype.kind not in "iub":
                raise ValueError(f"label shard {i} must hold integers, got dtype {y.dtype}")
            ys.append(y)
        elif ys:
            raise ValueError(f"shard {i} has no labels but earlier shards do")
        if not isinstance(item, (str, os.PathLike, np.ndarray)):  # a Dataset block: as is
            if n_i:
                out.append(_Shard(item, None, n_i, _Reader(ref=item, column=column)))
            continue
        for a, b in _pieces(n_i, rows_per_shard):
            whole = (a, b) == (0, n_i)
            if path is not None:
                src: Any = path if whole else (path, a, b)
                read = _Reader(path=path, start=a, stop=b)
            else:
                src = ray.put(X[a:b])
                read = _Reader(array=X[a:b])
            lab_src: Any = None
            if lab_path is not None:
                lab_src = lab_path if whole else (lab_path, a, b)
            elif y is not None:
                lab_src = ray.put(y[a:b])
            out.append(_Shard(src, lab_src, b - a, read))
    if not out or dtype is None:
        raise ValueError("all shards are empty: nothing to cover")
    if ys and len(ys) != len(items):
        raise ValueError("labels must be given for every shard or for none")
    return out, dtype, dim, (np.concatenate(ys) if ys else None)


def _nbytes(obj: Any) -> int:
    """Bytes of the arrays inside a (nested) result."""
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return 0


def comm_stats(cover: Cover) -> dict[str, int]:
    """Communication volume recorded by :func:`cover_shards` in ``cover.notes``.

    Returns
    -------
    dict of str to int
        ``shards``, ``candidates``, ``gather_bytes`` (local centres sent to the driver),
        ``broadcast_bytes`` (the candidate broadcast, sent once to the object store),
        ``coverage_bytes`` (CSR coverage lists), ``coverage_edges``, ``assign_bytes``; empty
        when the cover was not computed by :func:`cover_shards`.
    """
    for note in cover.notes:
        if note.startswith("ray comm:"):
            return {k: int(v) for k, v in _COMM_RE.findall(note)}
    return {}


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
        Global row indices, weights and assignment; ``method="ray-greedy"`` (or
        ``"ray-net"``);
        ``lower_bound=None``; ``notes`` carry the communication volume (:func:`comm_stats`).
        Verified with :func:`covering.verify`, shard by shard, before it is returned.

    Raises
    ------
    ValueError
        Invalid input (naming the shard), or a task's ``ValueError``.
    """
    t0 = time.perf_counter()
    if (
        isinstance(eta, bool)
        or not isinstance(eta, (int, float))
        or not math.isfinite(eta)
        or eta <= 0
    ):
        raise ValueError(f"eta must be a finite number > 0, got {eta!r}")
    check_metric(metric)
    if method not in LOCAL_METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(LOCAL_METHODS)}")
    if index not in ("auto", "flat", "ivf"):
        raise ValueError(f"unknown index {index!r}: expected auto, flat or ivf")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    if rows_per_shard is not None and (
        isinstance(rows_per_shard, bool)
        or not isinstance(rows_per_shard, int)
        or rows_per_shard < 1
    ):
        raise ValueError(f"rows_per_shard must be an integer >= 1, got {rows_per_shard!r}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    params = _Params(
        float(eta),
        metric,
        "greedy" if method == "auto" else method,
        rounds,
        int(seed),
        index,
        column,
        label_column,
        on_task,
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
) -> Cover:
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
    comm = (
        f"ray comm: shards={len(shards)} candidates={k} gather_bytes={gather} "
        f"broadcast_bytes={broadcast} coverage_bytes={coverage} coverage_edges={edges} "
        f"assign_bytes={assign_bytes}"
    )
    secs = " ".join(f"{key}={v:.2f}s" for key, v in timings.items())
    log.info("%s", comm)
    log.info("ray stages: %s", secs)

    report("verify", 0, 1)
    t = time.perf_counter()
    fp = fingerprint_stream(dtype, (n, dim), _blocks(shards))
    cov = Cover(
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
        seconds=0.0,
        optimal=None,
        notes=(comm, f"ray stages: {secs}"),
    )
    _verify_sharded(shards, offsets, y, cov)
    timings["verify"] = time.perf_counter() - t
    report("verify", 1, 1)
    object.__setattr__(cov, "seconds", time.perf_counter() - t0)
    object.__setattr__(
        cov,
        "notes",
        (comm, "ray stages: " + " ".join(f"{key}={v:.2f}s" for key, v in timings.items())),
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


def _blocks(shards: Sequence[_Shard]) -> Any:
    """The rows of all shards, in order, in blocks of at most ``BLOCK_ROWS``."""
    for s in shards:
        X = s.read()
        for b in range(0, s.n, BLOCK_ROWS):
            yield X[b : b + BLOCK_ROWS]


def _verify_sharded(
    shards: Sequence[_Shard], offsets: np.ndarray, y: np.ndarray | None, cov: Cover
) -> None:
    """:func:`covering.verify` of a sharded cover without loading all rows at once.

    Global invariants (unique sorted indices, weights equal to assignment counts, centre
    labels) are checked here; every block of rows is then verified by :func:`covering.verify`
    on the block plus the centres it uses, with the centre rows read from the shards.
    """
    n, m = cov.n, cov.size
    idx, a = cov.indices, cov.assignment
    if m == 0 or idx.min() < 0 or idx.max() >= n or np.any(np.diff(idx) <= 0):
        raise CoverError("centre indices must be unique, sorted and within range")
    if a.shape != (n,) or a.min() < 0 or a.max() >= m:
        raise CoverError("assignment has the wrong shape or points outside the centres")
    if not np.array_equal(cov.weights, np.bincount(a, minlength=m)):
        raise CoverError("weights do not equal the number of rows assigned to each centre")
    if y is not None and (cov.labels is None or not np.array_equal(cov.labels, y[idx])):
        raise CoverError("a centre's label differs from the label of its row")
    # centre rows, read from the data (not from what the tasks reported)
    which = np.searchsorted(offsets, idx, side="right") - 1
    centre_rows = np.empty((m, cov.dim), dtype=np.dtype(cov.dtype))
    for si, s in enumerate(shards):
        sel = np.flatnonzero(which == si)
        if sel.size:
            centre_rows[sel] = s.read()[idx[sel] - offsets[si]]
    for si, s in enumerate(shards):
        X = s.read()
        for b in range(0, s.n, BLOCK_ROWS):
            e = min(s.n, b + BLOCK_ROWS)
            g0, g1 = int(offsets[si]) + b, int(offsets[si]) + e
            used, local = np.unique(a[g0:g1], return_inverse=True)
            Xl = np.concatenate([np.asarray(X[b:e]), centre_rows[used]])
            nb, u = e - b, used.shape[0]
            al = np.concatenate([local.astype(np.int64), np.arange(u, dtype=np.int64)])
            yl = None if y is None else np.concatenate([y[g0:g1], y[idx[used]]])
            block = Cover(
                indices=np.arange(nb, nb + u, dtype=np.int64),
                weights=np.bincount(al, minlength=u).astype(np.int64),
                assignment=al,
                labels=None if yl is None else yl[nb:],
                eta=cov.eta,
                radius=cov.radius,
                metric=cov.metric,
                method=cov.method,
                n=nb + u,
                dim=cov.dim,
                lower_bound=None,
                fingerprint="",
            )
            try:
                verify(Xl, block, yl)
            except CoverError as exc:
                raise CoverError(
                    f"shard {si}, rows {b}..{e - 1} (global {g0}..{g1 - 1}): {exc}"
                ) from None
