"""Make the input bundle of the paper run on a CPU (``python -m clients.train.paper prep``):
the covers are computed and verified here, with the engine, and travel as arrays (plus their
manifests) to a device that has neither FAISS nor pydantic. See
:mod:`clients.train.paper_bundle` for the layout."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from clients.train.paper_bundle import (
    BUNDLE_FORMAT,
    array_sha256,
    fraction_budget,
    npz_bytes,
    write_atomic,
)

__all__ = ["prepare_bundle"]

log = logging.getLogger(__name__)


def _levels(X: np.ndarray, key: str) -> dict[str, np.ndarray]:
    """``X`` as uint8 levels and a scale when that is exact (MNIST: 255, digits: 16), else as
    float32."""
    for scale in (255.0, 16.0):
        lv = np.rint(X.astype(np.float64) * scale)
        if lv.min() >= 0 and lv.max() <= 255:
            back = (lv.astype(np.uint8).astype(np.float64) / scale).astype(np.float32)
            if np.array_equal(back, X):
                return {key + "_levels": lv.astype(np.uint8), key + "_scale": np.array(scale)}
    return {key: np.ascontiguousarray(X, dtype=np.float32)}


def _copy_autoattack(site: Path) -> list[Path]:
    """Copy the installed pyautoattack's modules (not its 44 MB of examples) into ``site``."""
    import importlib.util

    spec = importlib.util.find_spec("pyautoattack")
    if spec is None or not spec.submodule_search_locations:
        log.warning("pyautoattack is not installed: the bundle carries no AutoAttack")
        return []
    src = Path(next(iter(spec.submodule_search_locations)))
    dst = site / "pyautoattack"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    out = []
    for f in sorted(src.glob("*.py")):
        shutil.copyfile(f, dst / f.name)
        out.append(dst / f.name)
    return out


def prepare_bundle(
    out: str | Path,
    *,
    dataset: str = "mnist",
    budgets: tuple[int, ...] = (10, 50),
    fractions: tuple[float, ...] = (0.05, 0.2),
    seeds: tuple[int, ...] = (0,),
    dm_iterations: int = 0,
    dm_changes: dict[str, Any] | None = None,
    manifests: dict[str, str] | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> Path:
    """Write a bundle to the folder ``out``; returns the path of its ``bundle.json``.

    Parameters
    ----------
    dataset : mnist, digits or an MNIST IDX folder (:func:`clients.train.data.load_data`)
    budgets : points per class of ``mfc``, ``random`` and ``dm``
    fractions : fractions of the training set for ``mfc`` and ``random`` (as
        :func:`~clients.train.paper_bundle.fraction_budget` points per class)
    seeds : one set of each kind per seed
    dm_iterations : DM iterations here (0: none; the device run condenses then)
    dm_changes : settings changed from :meth:`~clients.train.baselines.dm.DMConfig.paper`
    manifests : ``{"mfc-f0.05-s0": path}``: a cover manifest to use for that mfc set instead
        of :func:`~clients.train.baselines.budget_cover` (verified exactly, copied along)
    """
    from clients.train.baselines import budget_cover, random_subset
    from clients.train.baselines.dm import DMConfig, condense, save_dm_set
    from clients.train.data import load_data, load_manifest, selection_from_manifest
    from covering import verify_centres

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    data = load_data(dataset)
    X, y, n, C = data.X_train, data.y_train, len(data.y_train), data.n_classes
    fr_budgets = [(fraction_budget(f, n, C), f) for f in fractions]
    sets: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    files: list[Path] = []
    extra = dict(manifests or {})

    def rows(name: str, method: str, b: int | None, seed: int, idx: np.ndarray, **kw: Any) -> None:
        w = kw.pop("weights", None)
        arrays[name + ".indices"] = np.asarray(idx, dtype=np.int64)
        arrays[name + ".weights"] = np.asarray(
            np.ones(len(idx)) if w is None else w, dtype=np.int64
        )
        sets.append(
            {
                "name": name,
                "method": method,
                "budget_per_class": b,
                "seed": seed,
                "kind": "rows",
                "weighting": "counts" if w is not None else "none",
                "eta": kw.pop("eta", None),
                "info": kw,
            }
        )

    for seed in seeds:
        rows(f"full-s{seed}", "full", None, seed, np.arange(n))
        for b, frac in [(b, None) for b in budgets] + fr_budgets:
            tag = f"b{b}" if frac is None else f"f{frac:g}"
            target = {} if frac is None else {"fraction": frac}
            rows(f"random-{tag}-s{seed}", "random", b, seed, random_subset(y, b, seed), **target)
            name = f"mfc-{tag}-s{seed}"
            if name in extra:
                m, arr = load_manifest(extra.pop(name))
                sel = selection_from_manifest(m, arr, X, y, data.labels_fingerprint)
                assert sel.indices is not None and sel.eta is not None
                mdir = d / "manifests"
                mdir.mkdir(exist_ok=True)
                mpath = mdir / f"{name}.json"
                write_atomic(mpath, m.model_dump_json(indent=1).encode())
                files.append(mpath)
                if "assignment" in arr:
                    write_atomic(mdir / f"{name}.npz", npz_bytes(arr))
                    files.append(mdir / f"{name}.npz")
                w = sel.weights.astype(np.int64)
                rows(name, "mfc", None, seed, sel.indices, weights=w, eta=sel.eta, **target)
                sets[-1]["info"].update(manifest=f"manifests/{name}.json", verified=True)
                continue
            echo(f"covering {b} points per class (seed {seed}) ...")
            idx, w, radius = budget_cover(X, y, b, seed=seed)
            verify_centres(X, idx, radius, "l2", labels=y)  # exact: every row within radius
            rows(
                name,
                "mfc",
                b,
                seed,
                idx,
                weights=w,
                eta=radius,
                cover_radius=radius,
                max_weight=int(w.max()),
                verified=True,
                **target,
            )
        if dm_iterations > 0 and budgets:
            cfg = DMConfig.paper(iterations=dm_iterations, seed=seed, **(dm_changes or {}))
            echo(f"DM: {dm_iterations} iterations for {budgets} images per class (CPU) ...")
            for b, res in zip(
                budgets,
                condense(X, y, list(budgets), data.shape, cfg, progress=progress),
                strict=True,
            ):
                name = f"dm-b{b}-s{seed}"
                info = {"dm": cfg.as_dict(), "device": "cpu", "data_fingerprint": _fp(X)}
                pj = save_dm_set(d / "dm" / name, res, info)
                files += [pj, pj.with_name(name + "-X.npy"), pj.with_name(name + "-y.npy")]
                arrays[name + ".X"], arrays[name + ".y"] = res.X, res.y
                sets.append(
                    {
                        "name": name,
                        "method": "dm",
                        "budget_per_class": b,
                        "seed": seed,
                        "kind": "images",
                        "weighting": "none",
                        "eta": None,
                        "info": {
                            "dm_file": f"dm/{name}.json",
                            "dm_iterations": res.iterations,
                            "dm_seconds": res.seconds,
                            "dm_device": "cpu",
                            "dm_loss_first": res.losses[0] if res.losses else None,
                            "dm_loss_last": float(np.mean(res.losses[-10:]))
                            if res.losses
                            else None,
                        },
                    }
                )
    if extra:
        raise ValueError(f"--manifest names no set of this bundle: {', '.join(extra)}")
    write_atomic(
        d / "data.npz",
        npz_bytes(
            {
                **_levels(X, "X_train"),
                **_levels(data.X_test, "X_test"),
                "y_train": y,
                "y_test": data.y_test,
            },
            compress=True,
        ),
    )
    write_atomic(d / "sets.npz", npz_bytes(arrays))
    files += [d / "data.npz", d / "sets.npz", *_copy_autoattack(d / "site")]
    meta = {
        "format": BUNDLE_FORMAT,
        "dataset": {
            "name": data.name,
            "shape": list(data.shape),
            "n_classes": C,
            "n_train": n,
            "n_test": len(data.y_test),
            "fingerprint": _fp(X),
            "labels_fingerprint": data.labels_fingerprint,
            "X_train_sha256": array_sha256(X),
            "y_train_sha256": array_sha256(y),
        },
        "budgets": list(budgets),
        "fractions": list(fractions),
        "seeds": list(seeds),
        "sets": sets,
        "files": {str(f.relative_to(d)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files},
    }
    write_atomic(d / "bundle.json", json.dumps(meta, indent=1, allow_nan=False).encode())
    return d / "bundle.json"


def _fp(X: np.ndarray) -> str:
    from covering import fingerprint

    return fingerprint(X)
