"""The fraction grid: where does a cover pay off?

Training sets of 1-40 % of the data (MFC covers found by radius, stratified and matched random
subsets, k-center, DM, full data), two compute regimes (equal optimiser steps, equal epochs),
cover weightings and spaces, several seeds, one recipe; records and outputs in
:mod:`clients.train.curve_results`. ``covering experiment mnist --grid fractions`` runs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clients.train.curve_results import (
    CURVE_METHODS,
    REGIMES,
    curve_key,
    curve_problem,
    curve_table,
    plot_curve,
)
from clients.train.data import Dataset
from clients.train.fractions import (
    SPACES,
    WEIGHTINGS,
    check_fraction,
    cover_at_size,
    kcenter_counts,
    matched_subset,
    stratified_counts,
    stratified_subset,
    training_weights,
)
from clients.train.results import load_records, recipe

__all__ = ["CurveConfig", "Point", "plan", "run_curve", "run_point", "write_curve"]

log = logging.getLogger(__name__)

#: settings that describe the grid, not one run (left out of a record's config)
_GRID_FIELDS = (
    "fractions",
    "methods",
    "regimes",
    "seeds",
    "variant_fractions",
    "weightings",
    "spaces",
    "dm_fractions",
    "autoattack_methods",
    "autoattack_fractions",
)


@dataclass(frozen=True)
class CurveConfig:
    """The fraction grid and its one training/evaluation recipe.

    The grid: ``methods`` at every fraction in both ``regimes`` for every seed; the cover's
    extra ``weightings`` and ``spaces`` at ``variant_fractions``; ``dm`` at
    ``dm_fractions``. The recipe: every run trains the same model with PGD (``attack_steps``,
    ``train_eps``) in batches of ``batch_size``; ``full_steps`` optimiser steps for the full
    data, and for every run in regime ``steps``; in regime ``epochs`` a subset of ``m`` rows
    gets ``full_steps * m / n`` steps (the same number of passes over its data).
    """

    fractions: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
    methods: tuple[str, ...] = ("mfc", "random", "random_matched", "kcenter", "full")
    regimes: tuple[str, ...] = REGIMES
    seeds: tuple[int, ...] = (0, 1, 2)
    variant_fractions: tuple[float, ...] = (0.05, 0.2)
    weightings: tuple[str, ...] = ("none", "sampler", "sqrt")
    spaces: tuple[str, ...] = ("pca", "embedding")
    dm_fractions: tuple[float, ...] = (0.01,)
    autoattack_methods: tuple[str, ...] = ("mfc", "random", "full")
    autoattack_fractions: tuple[float, ...] = (0.05, 0.2)
    # the recipe
    model: str = "cnn"
    width: int | None = None
    train_eps: float = 0.3
    train_norm: str = "linf"
    attack_steps: int = 5
    eps_warmup: float = 0.3
    batch_size: int = 100
    full_steps: int = 300
    lr: float = 1e-3
    eval_n: int = 1000
    pgd_steps: int = 20
    pgd_restarts: int = 1
    nested_eval: bool = True
    attacks: tuple[tuple[str, float], ...] = (
        ("linf", 0.1),
        ("linf", 0.2),
        ("linf", 0.3),
        ("l2", 1.0),
        ("l2", 1.5),
        ("l2", 2.0),
    )
    autoattack: tuple[tuple[str, float], ...] = (("linf", 0.3), ("l2", 1.5))
    autoattack_n: int = 1000
    autoattack_version: str = "standard"
    cover_metric: str = "l2"
    pca_dims: int = 50
    embed_steps: int = 600
    embed_seed: int = 0
    dm_iterations: int = 100
    dm_width: int = 32
    dm_batch_real: int = 64
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in (*self.fractions, *self.variant_fractions, *self.dm_fractions):
            check_fraction(f)
        for name, values, known in (
            ("method", self.methods, CURVE_METHODS),
            ("regime", self.regimes, REGIMES),
            ("weighting", self.weightings, WEIGHTINGS),
            ("space", self.spaces, SPACES),
        ):
            bad = [v for v in values if v not in known]
            if bad:
                raise ValueError(f"unknown {name}(s) {', '.join(bad)}: expected {', '.join(known)}")
        if not self.seeds or any(not 0 <= s < 2**31 for s in self.seeds):
            raise ValueError("seeds must be integers in [0, 2**31), at least one")
        if not self.attacks:
            raise ValueError("no PGD attack in the grid: robust accuracy needs at least one")


def quick_config() -> CurveConfig:
    """A grid that runs in a few minutes on 2 CPU cores (digits or MNIST): a check of the
    machinery, not evidence."""
    return CurveConfig(
        fractions=(0.05, 0.2),
        methods=("mfc", "random", "random_matched", "kcenter", "full"),
        seeds=(0, 1),
        variant_fractions=(0.2,),
        weightings=("sqrt",),
        spaces=("pca",),
        dm_fractions=(),
        autoattack=(),
        full_steps=40,
        batch_size=64,
        eval_n=200,
        pgd_steps=10,
        attacks=(("linf", 0.1), ("linf", 0.3), ("l2", 1.5)),
        pca_dims=20,
        embed_steps=40,
    )


def record_config(cfg: CurveConfig, seed: int) -> dict[str, Any]:
    """A record's ``config``: the recipe (everything but the grid's lists) and the seed."""
    out = {k: v for k, v in asdict(cfg).items() if k not in _GRID_FIELDS}
    out["seed"] = seed
    return json.loads(json.dumps(out))  # tuples -> lists, as read back from JSON


@dataclass(frozen=True)
class Point:
    """One run of the grid."""

    method: str
    fraction: float
    regime: str
    seed: int
    space: str = "pixels"
    weighting: str = "none"

    def key(self, dataset: str, cfg: CurveConfig) -> tuple[Any, ...]:
        """The :func:`curve_key` its record will have."""
        return curve_key(
            {**asdict(self), "dataset": dataset, "config": record_config(cfg, self.seed)}
        )

    def label(self) -> str:
        return (
            f"{self.method} {100 * self.fraction:g}% {self.regime} seed {self.seed}"
            + ("" if self.space == "pixels" else f" {self.space}")
            + ("" if self.weighting in ("none", "counts") else f" {self.weighting}")
        )


def plan(cfg: CurveConfig) -> list[Point]:
    """Every run of the grid, most informative first: covers against stratified random (and
    full data) over all fractions, seed by seed; then the other regime's; then matched random
    and k-center; then weightings, spaces and DM."""
    out: list[Point] = []
    mfc = "mfc" in cfg.methods

    def add(p: Point) -> None:
        if p not in out:
            out.append(p)

    for regime in cfg.regimes:
        for seed in cfg.seeds:
            if "full" in cfg.methods and regime == "steps":
                add(Point("full", 1.0, "steps", seed))
            for f in cfg.fractions:
                if mfc:
                    add(Point("mfc", f, regime, seed, weighting="counts"))
                if "random" in cfg.methods:
                    add(Point("random", f, regime, seed))
                if "full" in cfg.methods and regime == "epochs":
                    add(Point("full", f, "epochs", seed))
    for regime in cfg.regimes:
        for seed in cfg.seeds:
            for f in cfg.fractions:
                for m in ("random_matched", "kcenter"):
                    if m in cfg.methods and (m != "random_matched" or mfc):
                        add(Point(m, f, regime, seed))
    if mfc:
        for regime in cfg.regimes:
            for seed in cfg.seeds:
                for f in cfg.variant_fractions:
                    for w in cfg.weightings:
                        add(Point("mfc", f, regime, seed, weighting=w))
                    for s in cfg.spaces:
                        add(Point("mfc", f, regime, seed, space=s, weighting="counts"))
    for regime in cfg.regimes:
        for seed in cfg.seeds:
            for f in cfg.dm_fractions:
                add(Point("dm", f, regime, seed))
    return out


# --- spaces -------------------------------------------------------------------------------


def _cache_dir(stem: Path) -> Path:
    return stem.parent / ".cache" / stem.name


def space_rows(
    data: Dataset, space: str, cfg: CurveConfig, cache: Path
) -> tuple[np.ndarray, dict[str, Any]]:
    """The training rows in ``space`` (float32 (n, k)) and facts about the projection.

    ``pixels``: the rows themselves. ``pca``: the first ``pca_dims`` principal components
    (scikit-learn, full SVD: deterministic). ``embedding``: the penultimate layer (100
    units) of the small CNN trained normally (no attack) for ``embed_steps`` steps with seed
    ``embed_seed``; its clean test accuracy is reported. Both are cached in ``cache``.
    """
    if space == "pixels":
        return data.X_train, {}
    from covering import fingerprint
    from covering.data import save_npy_atomic

    tag = json.dumps(
        [
            fingerprint(data.X_train),
            space,
            cfg.pca_dims,
            cfg.embed_steps,
            cfg.embed_seed,
            cfg.model,
            cfg.width,
            cfg.batch_size,
            cfg.lr,
        ]
    )
    name = f"{space}-{hashlib.sha256(tag.encode()).hexdigest()[:16]}"
    path, meta = cache / f"{name}.npy", cache / f"{name}.json"
    if path.exists() and meta.exists():
        return np.load(path, allow_pickle=False), json.loads(meta.read_text())
    t = time.perf_counter()
    if space == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=cfg.pca_dims, svd_solver="full")
        Z = pca.fit_transform(data.X_train.astype(np.float64)).astype(np.float32)
        facts: dict[str, Any] = {
            "explained_variance": float(pca.explained_variance_ratio_.sum()),
            "select_cost_samples": 0,
        }
    elif space == "embedding":
        Z, facts = _embedding(data, cfg)
    else:
        raise ValueError(f"unknown space {space!r}: expected one of {', '.join(SPACES)}")
    facts["space_seconds"] = time.perf_counter() - t
    cache.mkdir(parents=True, exist_ok=True)
    save_npy_atomic(path, Z)
    from covering.io import write_bytes_atomic

    write_bytes_atomic(meta, json.dumps(facts).encode())
    return Z, facts


def _embedding(data: Dataset, cfg: CurveConfig) -> tuple[np.ndarray, dict[str, Any]]:
    import torch

    from clients.train.evaluate import accuracy
    from clients.train.models import build_model
    from clients.train.trainer import TrainConfig, seed_everything, to_images, train

    seed_everything(cfg.embed_seed)
    model = build_model(cfg.model, data.shape, data.n_classes, cfg.width)
    X = to_images(data.X_train, data.shape)
    tcfg = TrainConfig(
        epochs=1,
        batch_size=cfg.batch_size,
        steps_per_epoch=cfg.embed_steps,
        lr=cfg.lr,
        eps=0.0,
        attack_steps=0,
        seed=cfg.embed_seed,
    )
    train(model, X, torch.from_numpy(data.y_train), None, tcfg)
    acc = accuracy(model, to_images(data.X_test, data.shape), torch.from_numpy(data.y_test))
    classifier: torch.nn.Module = model.classifier  # type: ignore[assignment]
    features: torch.nn.Module = model.features  # type: ignore[assignment]
    head = torch.nn.Sequential(*list(classifier.children())[:-1])  # penultimate layer
    with torch.no_grad():
        Z = np.concatenate(
            [head(features(X[i : i + 2000])).numpy() for i in range(0, X.shape[0], 2000)]
        ).astype(np.float32)
    return Z, {
        "embedding_test_acc": acc,
        "embedding_dim": int(Z.shape[1]),
        "select_cost_samples": cfg.embed_steps * cfg.batch_size,
    }


# --- one run ------------------------------------------------------------------------------


@dataclass
class _Pick:
    rows: np.ndarray | None  # training rows (None: synthetic X)
    X: np.ndarray
    y: np.ndarray
    counts: np.ndarray | None  # cover counts
    facts: dict[str, Any]


def select(p: Point, data: Dataset, cfg: CurveConfig, cache: Path) -> _Pick:
    """The training set of run ``p``."""
    X, y, n = data.X_train, data.y_train, data.y_train.shape[0]
    if p.method == "full":
        return _Pick(np.arange(n), X, y, None, {})
    counts = stratified_counts(y, p.fraction)
    size = int(counts.sum())
    if p.method == "random":
        i = stratified_subset(y, p.fraction, p.seed)
        return _Pick(i, X[i], y[i], None, {})
    if p.method == "kcenter":
        i = kcenter_counts(X, y, counts, seed=0)
        return _Pick(i, X[i], y[i], None, {})
    if p.method in ("mfc", "random_matched"):
        space = p.space if p.method == "mfc" else "pixels"
        Z, facts = space_rows(data, space, cfg, cache)
        cov = cover_at_size(Z, y, size, metric=cfg.cover_metric, cache=cache)
        facts = {
            **facts,
            "eta": cov.eta,
            "cover_radius": cov.radius,
            "cover_seconds": cov.seconds,
            "max_weight": int(cov.weights.max()),
        }
        if p.method == "random_matched":
            matched = np.bincount(
                np.searchsorted(np.unique(y), y[cov.indices]), minlength=counts.shape[0]
            )
            i = matched_subset(y, matched, p.seed)
            return _Pick(i, X[i], y[i], None, {"cover_eta": cov.eta})
        return _Pick(cov.indices, X[cov.indices], y[cov.indices], cov.weights, facts)
    if p.method == "dm":
        from clients.train.baselines.dm import distribution_matching

        per_class = max(1, int(size) // data.n_classes)
        res = distribution_matching(
            X,
            y,
            per_class,
            data.shape,
            iterations=cfg.dm_iterations,
            width=cfg.dm_width,
            batch_real=cfg.dm_batch_real,
            seed=p.seed,
        )
        m = int(res.y.shape[0])
        return _Pick(
            None,
            res.X,
            res.y,
            None,
            {
                "dm_loss_first": res.losses[0] if res.losses else None,
                "dm_loss_last": float(np.mean(res.losses[-10:])) if res.losses else None,
                "select_cost_samples": cfg.dm_iterations * (m + cfg.dm_batch_real * data.n_classes),
            },
        )
    raise ValueError(f"unknown method {p.method!r}: expected one of {', '.join(CURVE_METHODS)}")


def steps_of(p: Point, n_train: int, n: int, cfg: CurveConfig) -> int:
    """Optimiser steps of run ``p``: ``full_steps`` in regime ``steps``; in regime ``epochs``
    the same number of passes over its ``n_train`` rows as the full run makes over ``n``
    (``full`` at fraction f: the steps of an f subset, on all the data)."""
    if p.regime == "steps":
        return cfg.full_steps
    share = p.fraction if p.method == "full" else n_train / n
    return max(1, round(cfg.full_steps * share))


def _model_path(stem: Path, key: tuple[Any, ...]) -> Path:
    h = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:20]
    return _cache_dir(stem) / "models" / f"{h}.pt"


def run_point(
    p: Point, data: Dataset, cfg: CurveConfig, stem: Path, progress: bool = False
) -> dict[str, Any]:
    """Select, adversarially train and evaluate run ``p``; its record (the model is kept for
    a later AutoAttack pass, see :func:`autoattack_pass`)."""
    import torch

    from clients.train.evaluate import AttackSpec, accuracy, robust_accuracy
    from clients.train.models import build_model
    from clients.train.trainer import TrainConfig, seed_everything, to_images, train
    from covering.io import open_atomic

    t0 = time.perf_counter()
    pick = select(p, data, cfg, _cache_dir(stem))
    t1 = time.perf_counter()
    n = data.y_train.shape[0]
    m = int(pick.y.shape[0])
    steps = steps_of(p, m, n, cfg)
    weights, sampler = (None, False)
    if pick.counts is not None:
        weights, sampler = training_weights(pick.counts, p.weighting)
    tcfg = TrainConfig(
        epochs=1,
        batch_size=cfg.batch_size,
        steps_per_epoch=steps,
        lr=cfg.lr,
        eps=cfg.train_eps,
        norm=cfg.train_norm,
        attack_steps=cfg.attack_steps,
        eps_warmup=cfg.eps_warmup,
        sampler=sampler,
        seed=p.seed,
    )
    seed_everything(p.seed)
    model = build_model(cfg.model, data.shape, data.n_classes, cfg.width)
    Xs, ys = to_images(pick.X, data.shape), torch.from_numpy(pick.y.astype(np.int64))
    hist = train(model, Xs, ys, weights, tcfg, progress=progress)
    t2 = time.perf_counter()
    Xt, yt, _ = _eval_set(data, cfg)
    clean = accuracy(model, to_images(data.X_test, data.shape), torch.from_numpy(data.y_test))
    robust = robust_accuracy(
        model,
        Xt,
        yt,
        [AttackSpec(a, e) for a, e in cfg.attacks],
        steps=cfg.pgd_steps,
        restarts=cfg.pgd_restarts,
        seed=p.seed,
        nested=cfg.nested_eval,
    )
    t3 = time.perf_counter()
    key = p.key(data.name, cfg)
    path = _model_path(stem, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_atomic(path) as fh:
        torch.save(model.state_dict(), fh)
    train_cost = steps * cfg.batch_size * (cfg.attack_steps + 1)
    select_cost = int(pick.facts.pop("select_cost_samples", 0) or 0)
    return {
        "dataset": data.name,
        "method": p.method,
        "fraction": p.fraction,
        "n_train": m,
        "seed": p.seed,
        "regime": p.regime,
        "space": p.space,
        "weighting": p.weighting,
        "eta": pick.facts.get("eta"),
        "steps": steps,
        "clean_acc": clean,
        "clean_acc_eval": accuracy(model, Xt, yt),
        "robust_acc": robust,
        "autoattack_acc": None,
        "cost_samples": train_cost + select_cost,
        "train_cost_samples": train_cost,
        "select_cost_samples": select_cost,
        "seconds": t3 - t0,
        "select_seconds": t1 - t0,
        "train_seconds": t2 - t1,
        "eval_seconds": t3 - t2,
        "train_final_loss": hist[-1]["loss"],
        "class_counts": [int(c) for c in np.bincount(pick.y, minlength=data.n_classes)],
        **{k: v for k, v in pick.facts.items() if k != "eta"},
        "config": record_config(cfg, p.seed),
    }


def _eval_set(data: Dataset, cfg: CurveConfig) -> tuple[Any, Any, np.ndarray]:
    """The fixed evaluation images (the same ``eval_n`` test images for every run)."""
    import torch

    from clients.train.trainer import to_images

    rng = np.random.default_rng(0)
    te = rng.choice(len(data.y_test), size=min(cfg.eval_n, len(data.y_test)), replace=False)
    return to_images(data.X_test[te], data.shape), torch.from_numpy(data.y_test[te]), te


# --- the grid -----------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(json_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<json>.lock`` (several workers share one results file)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    with open(json_path.with_name(json_path.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _paths(stem: Path) -> tuple[Path, Path, Path, Path]:
    return (
        stem.with_name(stem.name + ".json"),
        stem.with_name(stem.name + ".md"),
        stem.with_name(stem.name + "-linf.png"),
        stem.with_name(stem.name + "-l2.png"),
    )


def load_curve(stem: Path) -> list[dict[str, Any]]:
    """The records of ``<stem>.json`` ([] when there is none); ValueError if malformed."""
    return load_records(_paths(stem)[0], curve_problem)


def _radius(name: str) -> float:
    """The radius of an attack name such as ``pgd-linf-0.3``."""
    return float(name.rsplit("-", 1)[1])


def curve_header(cfg: CurveConfig) -> str:
    """The Markdown file's preamble: the recipe every run shares."""
    attacks = ", ".join(f"{a} {e:g}" for a, e in cfg.attacks)
    return (
        "# The fraction grid: covers against stratified random, by budget and compute\n\n"
        f"Recipe (identical for every run): model `{cfg.model}`, Adam lr {cfg.lr:g} with cosine "
        f"decay, batches of {cfg.batch_size}, PGD-{cfg.attack_steps} {cfg.train_norm} training "
        f"at eps {cfg.train_eps:g} (eps ramped over the first {100 * cfg.eps_warmup:g}% of the "
        f"steps); the full data gets {cfg.full_steps} steps. Regime `steps`: every run "
        f"{cfg.full_steps} steps. Regime `epochs`: a subset of m rows gets "
        f"{cfg.full_steps} m / n steps (`full` at fraction f: {cfg.full_steps} f steps on all "
        f"the data). Evaluation: clean accuracy on the whole test set; PGD-{cfg.pgd_steps} "
        f"({attacks}) on {cfg.eval_n} fixed test images"
        + (", nested by radius within a norm" if cfg.nested_eval else "")
        + ". Cost = optimiser steps x batch x (PGD steps + 1) sample-gradient evaluations, "
        "plus the embedding network's training for covers in embedding space. `mfc` covers "
        "are radius-mode covers with exactly the stratified subset's number of centres "
        "(`covering.eta_for_size`, L2), weighted by their counts unless the row says "
        "otherwise.\n\n"
    )


def write_curve(
    records: list[dict[str, Any]], stem: Path, cfg: CurveConfig, *, plots: bool = True
) -> None:
    """``<stem>.json``, ``<stem>.md`` (tables) and the plots ``<stem>-linf.png`` /
    ``<stem>-l2.png`` (PGD L-inf 0.3 / L2 1.5, or the largest radius of the norm evaluated,
    against fraction and cost)."""
    from covering.io import write_bytes_atomic

    header = curve_header(cfg)

    json_path, md_path, linf, l2 = _paths(stem)
    write_bytes_atomic(json_path, json.dumps(records, indent=1, allow_nan=False).encode())
    metrics = ("clean", "pgd-linf-0.3", "pgd-l2-1.5")
    aa = sorted({k for r in records for k in (r.get("autoattack_acc") or {})})
    write_bytes_atomic(md_path, (header + curve_table(records, (*metrics, *aa))).encode())
    if not plots:
        return
    names = {k for r in records for k in r["robust_acc"]}
    for path, norm, prefer in ((linf, "linf", "pgd-linf-0.3"), (l2, "l2", "pgd-l2-1.5")):
        mine = sorted((n for n in names if n.startswith(f"pgd-{norm}-")), key=_radius)
        if mine:
            plot_curve(records, prefer if prefer in mine else mine[-1], path)


def _check_recipe(records: list[dict[str, Any]], cfg: CurveConfig, path: Path) -> None:
    mine = recipe(record_config(cfg, 0))
    for i, r in enumerate(records):
        if recipe(r.get("config")) != mine:
            raise ValueError(
                f"{path}: record {i} was made with another recipe than this grid; give this "
                "grid another --out, or move the file away"
            )


def run_curve(
    dataset: str,
    stem: Path,
    cfg: CurveConfig,
    *,
    shard: tuple[int, int] = (0, 1),
    time_limit: float | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the pending points of the grid (those of ``shard`` ``(i, k)``: every k-th point,
    from the i-th), appending each record to ``<stem>.json`` under a file lock, so several
    workers can share one results file and a rerun resumes. No new run starts after
    ``time_limit`` seconds."""
    from clients.train.data import load_data

    i, k = shard
    if not (k >= 1 and 0 <= i < k):
        raise ValueError(f"--shard must be I/K with 0 <= I < K, got {i}/{k}")
    json_path = _paths(stem)[0]
    with _locked(json_path):
        _check_recipe(load_curve(stem), cfg, json_path)
    data = load_data(dataset)
    t0 = time.perf_counter()
    points = [p for j, p in enumerate(plan(cfg)) if j % k == i]
    for p in points:
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            echo("time limit reached (rerun to resume)")
            break
        key = p.key(data.name, cfg)
        with _locked(json_path):
            if any(curve_key(r) == key for r in load_curve(stem)):
                continue
        rec = run_point(p, data, cfg, stem, progress)
        bad = curve_problem(rec)
        if bad:
            raise ValueError(f"{p.label()}: the run's record {bad}; it is not written")
        with _locked(json_path):
            records = load_curve(stem)
            if not any(curve_key(r) == key for r in records):
                records.append(rec)
                write_curve(records, stem, cfg, plots=False)  # the plots once, at the end
        echo(
            f"{p.label():40s} n={rec['n_train']:6d} steps={rec['steps']:4d} "
            f"clean={rec['clean_acc']:.3f} "
            + " ".join(f"{a}={v:.3f}" for a, v in rec["robust_acc"].items())
            + f" ({rec['seconds']:.0f} s)"
        )
    with _locked(json_path):
        records = load_curve(stem)
        if records:
            write_curve(records, stem, cfg)
    return records


def autoattack_pass(
    dataset: str,
    stem: Path,
    cfg: CurveConfig,
    *,
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Standard AutoAttack (``cfg.autoattack``, ``autoattack_n`` of the evaluation images) on
    the kept models of ``autoattack_methods`` at ``autoattack_fractions`` (and full data),
    regime ``steps``, pixel space, first seed; each result is written into its record."""
    import torch

    from clients.train.data import load_data
    from clients.train.evaluate import autoattack_accuracy, autoattack_available
    from clients.train.models import build_model

    if not cfg.autoattack:
        return load_curve(stem)
    if not autoattack_available():
        raise ValueError("AutoAttack needs the [eval] extra (pip install 'covering[eval]')")
    data = load_data(dataset)
    json_path = _paths(stem)[0]
    with _locked(json_path):
        records = load_curve(stem)
    want = [
        r
        for r in records
        if r["method"] in cfg.autoattack_methods
        and (r["method"] == "full" or round(r["fraction"], 9) in cfg.autoattack_fractions)
        and r["regime"] == "steps"
        and r["space"] == "pixels"
        and r["weighting"] in ("counts", "none")
        and r["seed"] == cfg.seeds[0]
        and r["autoattack_acc"] is None
        and recipe(r["config"]) == recipe(record_config(cfg, 0))
    ]
    Xt, yt, _ = _eval_set(data, cfg)
    Xa, ya = Xt[: cfg.autoattack_n], yt[: cfg.autoattack_n]
    for r in want:
        key = curve_key(r)
        model = build_model(cfg.model, data.shape, data.n_classes, cfg.width)
        model.load_state_dict(torch.load(_model_path(stem, key), weights_only=True))
        model.eval()
        t = time.perf_counter()
        acc = {
            f"aa-{norm}-{eps:g}": autoattack_accuracy(
                model, Xa, ya, norm, eps, version=cfg.autoattack_version, seed=r["seed"]
            )
            for norm, eps in cfg.autoattack
        }
        secs = time.perf_counter() - t
        with _locked(json_path):
            records = load_curve(stem)
            for rr in records:
                if curve_key(rr) == key:
                    rr["autoattack_acc"] = acc
                    rr["autoattack_seconds"] = secs
            write_curve(records, stem, cfg)
        echo(f"AutoAttack {r['method']} {r['fraction']:g}: {acc} ({secs:.0f} s)")
    with _locked(json_path):
        return load_curve(stem)
