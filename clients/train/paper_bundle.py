"""The input bundle of the paper run (:mod:`clients.train.paper`): the data, the training sets
(cover and random rows, DM images) and the manifests they came from, in one folder.

:func:`prepare_bundle` runs on a CPU with the whole project (it computes the covers with the
engine, verifies them exactly, learns DM sets if asked); :func:`load_bundle` needs only numpy and
the standard library, so the bundle is read on a machine without FAISS or pydantic (the GPU
machine). Layout of a bundle folder::

    bundle.json      format, dataset facts, the training sets, sha256 of every file
    data.npz         X_train/X_test as uint8 levels + scale (or float32), y_train, y_test
    sets.npz         <set>.indices/<set>.weights (rows of X_train) or <set>.X/<set>.y (images)
    manifests/       the cover manifests (JSON + .npz payload) of the mfc sets
    dm/              the DM sets as written by :func:`clients.train.baselines.dm.save_dm_set`
    site/            pure-Python packages the device lacks (pyautoattack, without its examples)
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BUNDLE_FORMAT",
    "Bundle",
    "TrainingSet",
    "array_sha256",
    "fraction_budget",
    "load_bundle",
    "write_atomic",
]

#: ``format`` of ``bundle.json``
BUNDLE_FORMAT = "covering-paper-bundle/1"


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, fsynced and renamed over it
    (readers see the old file or the new one). The device lacks the engine's dependencies, so
    :func:`covering.io.write_bytes_atomic` cannot be imported there."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name[:64]}.", suffix=".tmp")
    os.fchmod(fd, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def npz_bytes(arrays: dict[str, np.ndarray], compress: bool = False) -> bytes:
    """The bytes of an ``.npz`` holding ``arrays``."""
    buf = io.BytesIO()
    if compress:
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    else:
        np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def array_sha256(a: np.ndarray) -> str:
    """sha256 hex of an array's dtype, shape and C-order bytes (a check that needs no engine)."""
    arr = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{arr.dtype.str};{arr.shape};".encode())
    h.update(arr.data if arr.size else b"")
    return h.hexdigest()


def fraction_budget(fraction: float, n: int, n_classes: int) -> int:
    """Points per class for ``fraction`` of ``n`` training rows: ``round(fraction * n / C)``."""
    if not (0 < fraction <= 1 and math.isfinite(fraction)):
        raise ValueError(f"a fraction of the training set must lie in (0, 1], got {fraction}")
    return max(1, round(fraction * n / n_classes))


@dataclass(frozen=True)
class TrainingSet:
    """One training set of the bundle.

    Attributes
    ----------
    name : str
        Unique, e.g. ``mfc-b10-s0``.
    method : {"mfc", "dm", "random", "full"}
    budget_per_class : int or None (full)
    seed : int
    weighting : {"counts", "none"}
    eta : float or None
        Cover radius (mfc only).
    X, y : ndarray (m, d) float32 in [0, 1] and (m,) int64
    weights : ndarray of float64 (m,)
        Per-sample loss weights (cover counts; ones otherwise).
    info : dict
        Facts recorded with the run (manifest file, DM settings, ...).
    """

    name: str
    method: str
    budget_per_class: int | None
    seed: int
    weighting: str
    eta: float | None
    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of training points."""
        return int(self.X.shape[0])


@dataclass(frozen=True)
class Bundle:
    """The loaded bundle: the data (flat float32 rows in [0, 1]), its facts and the sets."""

    dataset: str
    shape: tuple[int, int, int]
    n_classes: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    sets: list[TrainingSet]
    meta: dict[str, Any]


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npz ({exc})") from None


def _images(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    if key in arrays:
        return np.ascontiguousarray(arrays[key], dtype=np.float32)
    levels, scale = arrays[key + "_levels"], float(arrays[key + "_scale"])
    return (levels.astype(np.float64) / scale).astype(np.float32)


def load_bundle(directory: str | Path) -> Bundle:
    """Read a bundle written by :func:`prepare_bundle`, checking every file's sha256 and the
    arrays' contents against ``bundle.json``; ValueError on any mismatch."""
    d = Path(directory)
    try:
        meta = json.loads((d / "bundle.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{d}: no readable bundle.json ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{d}/bundle.json: not a paper bundle (format {BUNDLE_FORMAT})")
    for rel, digest in meta["files"].items():
        p = d / rel
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            raise ValueError(f"{p}: missing or changed since the bundle was made (sha256)")
    data = _load_npz(d / "data.npz")
    X_train, X_test = _images(data, "X_train"), _images(data, "X_test")
    y_train, y_test = data["y_train"].astype(np.int64), data["y_test"].astype(np.int64)
    ds = meta["dataset"]
    if (
        array_sha256(X_train) != ds["X_train_sha256"]
        or array_sha256(y_train) != ds["y_train_sha256"]
    ):
        raise ValueError(f"{d}/data.npz: the training data differ from those the sets were made on")
    arrays = _load_npz(d / "sets.npz")
    sets = []
    for s in meta["sets"]:
        name = s["name"]
        if s["kind"] == "rows":
            idx = arrays[name + ".indices"].astype(np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= len(y_train)):
                raise ValueError(f"set {name}: row indices outside the training data")
            X, y = X_train[idx], y_train[idx]
            w = arrays[name + ".weights"].astype(np.float64)
        else:
            X = np.ascontiguousarray(arrays[name + ".X"], dtype=np.float32)
            y = arrays[name + ".y"].astype(np.int64)
            w = np.ones(len(y))
        if w.shape != y.shape or not np.all(w > 0) or X.shape[1:] != X_train.shape[1:]:
            raise ValueError(f"set {name}: malformed arrays")
        sets.append(
            TrainingSet(
                name,
                s["method"],
                s["budget_per_class"],
                int(s["seed"]),
                s["weighting"],
                s["eta"],
                X,
                y,
                w,
                dict(s.get("info", {})),
            )
        )
    shape = tuple(int(v) for v in ds["shape"])
    return Bundle(
        ds["name"],
        (shape[0], shape[1], shape[2]),
        int(ds["n_classes"]),
        X_train,
        y_train,
        X_test,
        y_test,
        sets,
        meta,
    )
