"""Benchmark data: seeded synthetic Gaussian mixtures (memmapped), MNIST, digits.

The synthetic family keeps its *density* fixed as ``n`` grows: every mixture component has
``per_component`` rows, so a larger ``n`` means more components (spread over a larger volume),
not more crowded ones. A given ``eta`` therefore keeps about the same fraction of rows at every
``n``, which is what a scaling curve must hold fixed. Each component is a Gaussian with a
low-rank covariance (``intrinsic`` latent dimensions, like real embeddings) plus small isotropic
noise; component ``c`` has label ``c % classes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Dataset", "load_named", "mixture", "write_mixture"]

log = logging.getLogger(__name__)

#: rows generated per chunk when writing a memmapped mixture
CHUNK = 1 << 16


@dataclass(frozen=True)
class Dataset:
    """A benchmark dataset.

    Attributes
    ----------
    name : str
    X : ndarray or np.memmap, shape (n, d), float32
    y : ndarray of int64, shape (n,)
    """

    name: str
    X: np.ndarray
    y: np.ndarray

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])


def _component_params(
    comps: np.ndarray, dim: int, intrinsic: int, seed: int, spread: float
) -> tuple[np.ndarray, np.ndarray]:
    """Means (c, dim) and latent bases (c, intrinsic, dim) of the given components."""
    means = np.empty((comps.shape[0], dim), dtype=np.float32)
    bases = np.empty((comps.shape[0], intrinsic, dim), dtype=np.float32)
    for i, c in enumerate(comps):
        rng = np.random.default_rng([seed, 1, int(c)])
        means[i] = rng.standard_normal(dim) * (spread / np.sqrt(dim))
        q, _ = np.linalg.qr(rng.standard_normal((dim, intrinsic)))
        bases[i] = q.T
    return means, bases


def _rows(
    start: int,
    stop: int,
    dim: int,
    *,
    seed: int,
    classes: int,
    per_component: int,
    intrinsic: int,
    noise: float,
    spread: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``start:stop`` of the mixture (float32 (b, dim)) and their labels (int64 (b,))."""
    comp = np.arange(start, stop, dtype=np.int64) // per_component
    ucomp, inv = np.unique(comp, return_inverse=True)
    means, bases = _component_params(ucomp, dim, intrinsic, seed, spread)
    rng = np.random.default_rng([seed, 2, start])
    z = rng.standard_normal((stop - start, intrinsic)).astype(np.float32)
    X = (
        np.einsum("bi,bid->bd", z, bases[inv])
        if stop - start <= 8192
        else np.concatenate(
            [
                np.einsum("bi,bid->bd", z[s : s + 8192], bases[inv[s : s + 8192]])
                for s in range(0, stop - start, 8192)
            ]
        )
    )
    X += means[inv]
    X += rng.standard_normal(X.shape, dtype=np.float32) * np.float32(noise / np.sqrt(dim))
    return X.astype(np.float32, copy=False), (comp % classes).astype(np.int64)


def mixture(
    n: int,
    dim: int,
    *,
    seed: int = 0,
    classes: int = 10,
    per_component: int = 1000,
    intrinsic: int = 8,
    noise: float = 0.5,
    spread: float = 12.0,
) -> Dataset:
    """A synthetic mixture in memory (see the module docstring); float32 (n, dim)."""
    X, y = _rows(
        0,
        n,
        dim,
        seed=seed,
        classes=classes,
        per_component=per_component,
        intrinsic=intrinsic,
        noise=noise,
        spread=spread,
    )
    return Dataset(f"mix{dim}", X, y)


def _write_chunks(part: str, starts: list[int], n: int, dim: int, kw: dict[str, Any]) -> None:
    """Write the chunks beginning at ``starts`` into the memmapped ``.npy`` ``part``."""
    X = np.load(part, mmap_mode="r+", allow_pickle=False)
    for s in starts:
        e = min(n, s + CHUNK)
        X[s:e], _ = _rows(s, e, dim, **kw)
    X.flush()


def write_mixture(
    directory: Path,
    n: int,
    dim: int,
    *,
    seed: int = 0,
    classes: int = 10,
    per_component: int = 1000,
    intrinsic: int = 8,
    noise: float = 0.5,
    spread: float = 12.0,
    workers: int = 1,
) -> tuple[Path, Path]:
    """Write a mixture to ``directory`` as ``.npy`` files, chunk by chunk (bounded memory).

    ``workers`` > 1 writes the chunks from that many processes (the same rows: each chunk is
    seeded by its own start).

    Returns
    -------
    (X_path, y_path) : paths of the float32 (n, dim) rows and the int64 (n,) labels.
    """
    if n < 1 or dim < 1:
        raise ValueError(f"mixture needs n >= 1 and dim >= 1, got n={n}, dim={dim}")
    directory.mkdir(parents=True, exist_ok=True)
    xp = directory / f"mix_n{n}_d{dim}_s{seed}.npy"
    yp = directory / f"mix_n{n}_d{dim}_s{seed}.labels.npy"
    if xp.exists() and yp.exists():
        return xp, yp
    part = str(xp) + ".part"
    X = np.lib.format.open_memmap(part, mode="w+", dtype=np.float32, shape=(n, dim))
    del X
    kw: dict[str, Any] = dict(
        seed=seed,
        classes=classes,
        per_component=per_component,
        intrinsic=intrinsic,
        noise=noise,
        spread=spread,
    )
    starts = list(range(0, n, CHUNK))
    jobs = max(1, min(int(workers), len(starts)))
    if jobs == 1:
        _write_chunks(part, starts, n, dim, kw)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            futures = [
                pool.submit(_write_chunks, part, starts[i::jobs], n, dim, kw) for i in range(jobs)
            ]
            for f in futures:
                f.result()
    # the labels of _rows: component (a run of per_component rows) modulo classes
    y = (np.arange(n, dtype=np.int64) // per_component) % classes
    Path(part).replace(xp)
    np.save(yp, y, allow_pickle=False)
    log.info("wrote %s (%d x %d)", xp, n, dim)
    return xp, yp


def load_named(name: str, path: str | None = None) -> Dataset:
    """Load a benchmark dataset by name.

    Parameters
    ----------
    name : {"mnist", "digits", "mix"}
        ``mix`` needs ``path`` (an ``.npy`` written by :func:`write_mixture`), memmapped.
    path : str, optional
    """
    if name == "mnist":
        from covering.data import load_mnist

        X, y = load_mnist()
        return Dataset("mnist", X, y)
    if name == "digits":
        from covering.data import load_digits

        X, y = load_digits()
        return Dataset("digits", np.asarray(X, dtype=np.float32), y)
    if name == "mix":
        if path is None:
            raise ValueError("dataset 'mix' needs a path")
        X = np.load(path, mmap_mode="r", allow_pickle=False)
        if not path.endswith(".npy"):
            raise ValueError(f"dataset 'mix' needs a .npy path, got {path!r}")
        yp = Path(path[: -len(".npy")] + ".labels.npy")
        y = np.load(yp, allow_pickle=False)
        return Dataset(f"mix{X.shape[1]}", X, y)
    raise ValueError(f"unknown benchmark dataset {name!r}: expected mnist, digits or mix")
