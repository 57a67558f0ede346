"""Shards as the driver and the tasks see them: reading rows and labels, checking and cutting
the inputs of :func:`covering.distributed.cover_shards`."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray

from covering.api import validate_labels
from covering.data import load_npy

__all__ = ["BLOCK_ROWS", "Source"]

#: rows per block when a task or the driver walks through a shard
BLOCK_ROWS = 65_536

Source = Any  # str path | ndarray | dict of column -> ndarray (a Ray Dataset block)


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
            try:  # checked as covering.cover checks labels; y keeps its dtype (fingerprint)
                validate_labels(y, n_i)
            except ValueError as exc:
                raise ValueError(f"label shard {i}, expected ({n_i},) integers: {exc}") from None
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


def _blocks(shards: Sequence[_Shard]) -> Iterator[np.ndarray]:
    """The rows of all shards, in order, in blocks of at most ``BLOCK_ROWS``."""
    for s in shards:
        X = s.read()
        for b in range(0, s.n, BLOCK_ROWS):
            yield X[b : b + BLOCK_ROWS]
