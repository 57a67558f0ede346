"""The experiment grid: methods x budgets per class (+ full data), trained and evaluated with
one recipe; the records, table and plots are written by :mod:`clients.train.results`."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from clients.train.data import Dataset, Selection
from clients.train.recipes import check_recipe
from clients.train.results import (
    METHODS,
    check_outputs,
    load_records,
    output_paths,
    output_stem,
    recipe,
    record_key,
    record_problem,
    write_outputs,
)

__all__ = [
    "METHODS",
    "GridConfig",
    "grid_config",
    "output_stem",
    "record_config",
    "run_experiment",
    "run_one",
    "select",
    "write_outputs",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridConfig:
    """Sizes of one experiment grid (see :func:`grid_config`)."""

    budgets: tuple[int, ...] = (10, 50, 100)
    methods: tuple[str, ...] = METHODS
    model: str = "cnn"
    width: int | None = None
    train_eps: float = 0.3
    train_norm: str = "linf"
    attack_steps: int = 5
    eps_warmup: float = 0.3
    batch_size: int = 100
    subset_steps: int = 150
    full_steps: int = 600
    lr: float = 1e-3
    eval_n: int = 1000
    pgd_steps: int = 20
    pgd_restarts: int = 1
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
    #: "standard" (APGD-CE, APGD-T x9, FAB-T, Square); "custom" runs ``autoattack_attacks``
    autoattack_version: str = "standard"
    autoattack_attacks: tuple[str, ...] = ("apgd-ce", "apgd-t")
    autoattack_targets: int = 9
    dm_iterations: int = 100
    dm_width: int = 32
    dm_batch_real: int = 64
    bound_n: int = 1000
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def grid_config(quick: bool) -> GridConfig:
    """The standard grid, or a ``quick`` one that finishes in minutes on 2 CPU cores."""
    if not quick:
        return GridConfig()
    return GridConfig(
        budgets=(10,),
        subset_steps=60,
        full_steps=60,
        batch_size=64,
        attack_steps=5,
        eval_n=200,
        pgd_steps=10,
        attacks=(("linf", 0.1), ("linf", 0.3), ("l2", 1.5)),
        autoattack=(("linf", 0.3),),
        autoattack_n=100,
        autoattack_version="custom",
        autoattack_targets=3,
        dm_iterations=40,
        dm_width=32,
        bound_n=200,
    )


def record_config(cfg: GridConfig) -> dict[str, Any]:
    """The ``config`` of a record: the settings of ``cfg`` that determine one run (its recipe
    and seed; not the lists of methods and budgets of the grid)."""
    return {k: v for k, v in asdict(cfg).items() if k not in ("budgets", "methods")}


def select(
    method: str, data: Dataset, per_class: int, cfg: GridConfig, progress: bool = False
) -> tuple[Selection, dict[str, Any]]:
    """The training set of ``method`` at ``per_class`` points per class, and facts about it."""
    from clients.train.baselines import budget_cover, kcenter_subset, random_subset
    from clients.train.baselines.dm import distribution_matching

    X, y = data.X_train, data.y_train
    ones = np.ones
    if method == "full":
        return Selection(X, y, ones(len(y)), np.arange(len(y))), {}
    if method == "random":
        i = random_subset(y, per_class, cfg.seed)
        return Selection(X[i], y[i], ones(len(i)), i), {}
    if method == "kcenter":
        i = kcenter_subset(X, y, per_class, seed=cfg.seed)
        return Selection(X[i], y[i], ones(len(i)), i), {}
    if method == "mfc":
        i, w, r = budget_cover(X, y, per_class, seed=cfg.seed)
        return (
            Selection(X[i], y[i], w.astype(np.float64), i, eta=r, metric="l2"),
            {"cover_radius": r, "max_weight": int(w.max())},
        )
    if method == "dm":
        res = distribution_matching(
            X,
            y,
            per_class,
            data.shape,
            iterations=cfg.dm_iterations,
            width=cfg.dm_width,
            batch_real=cfg.dm_batch_real,
            seed=cfg.seed,
            progress=progress,
        )
        first = res.losses[0] if res.losses else None
        last = float(np.mean(res.losses[-10:])) if res.losses else None
        return (
            Selection(res.X, res.y, ones(len(res.y))),
            {"dm_loss_first": first, "dm_loss_last": last},
        )
    raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")


def run_one(
    data: Dataset, method: str, per_class: int | None, cfg: GridConfig, progress: bool = False
) -> dict[str, Any]:
    """Select, adversarially train and evaluate one model; its JSON record."""
    import torch

    from clients.train.evaluate import (
        AttackSpec,
        accuracy,
        autoattack_accuracy,
        autoattack_available,
        robust_accuracy,
        sample_bound,
    )
    from clients.train.models import build_model
    from clients.train.trainer import TrainConfig, seed_everything, to_images, train

    t0 = time.perf_counter()
    sel, facts = select(method, data, per_class or 0, cfg, progress)
    t1 = time.perf_counter()
    steps = cfg.full_steps if method == "full" else cfg.subset_steps
    tcfg = TrainConfig(
        epochs=1,
        batch_size=cfg.batch_size,
        steps_per_epoch=steps,
        lr=cfg.lr,
        eps=cfg.train_eps,
        norm=cfg.train_norm,
        attack_steps=cfg.attack_steps,
        eps_warmup=cfg.eps_warmup,
        seed=cfg.seed,
    )
    seed_everything(cfg.seed)
    model = build_model(cfg.model, data.shape, data.n_classes, cfg.width)
    Xs, ys = to_images(sel.X, data.shape), torch.from_numpy(sel.y)
    weights = sel.weights if method == "mfc" else None
    hist = train(model, Xs, ys, weights, tcfg, progress=progress)
    t2 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    te = rng.choice(len(data.y_test), size=min(cfg.eval_n, len(data.y_test)), replace=False)
    Xt, yt = to_images(data.X_test[te], data.shape), torch.from_numpy(data.y_test[te])
    clean_full = accuracy(model, to_images(data.X_test, data.shape), torch.from_numpy(data.y_test))
    specs = [AttackSpec(n, e) for n, e in cfg.attacks]
    robust = robust_accuracy(
        model, Xt, yt, specs, steps=cfg.pgd_steps, restarts=cfg.pgd_restarts, seed=cfg.seed
    )
    t3 = time.perf_counter()
    aa: dict[str, float] = {}
    aa_seconds = 0.0
    if cfg.autoattack and autoattack_available():
        aa_idx = te[: cfg.autoattack_n]
        Xa, ya = to_images(data.X_test[aa_idx], data.shape), torch.from_numpy(data.y_test[aa_idx])
        for norm, eps in cfg.autoattack:
            a0 = time.perf_counter()
            aa[f"aa-{norm}-{eps:g}"] = autoattack_accuracy(
                model,
                Xa,
                ya,
                norm,
                eps,
                version=cfg.autoattack_version,
                seed=cfg.seed,
                attacks=list(cfg.autoattack_attacks),
                n_target_classes=cfg.autoattack_targets,
            )
            log.info(
                "%s %s: AutoAttack %s %g in %.0f s",
                method,
                per_class,
                norm,
                eps,
                time.perf_counter() - a0,
            )
        aa_seconds = time.perf_counter() - t3
    bound = None
    if method == "mfc" and sel.eta is not None and sel.indices is not None:
        bound = sample_bound(
            model,
            data,
            sel,
            n=cfg.bound_n,
            eps=cfg.train_eps,
            norm=cfg.train_norm,
            steps=cfg.pgd_steps,
            rng=rng,
            seed=cfg.seed,
        )
    t4 = time.perf_counter()
    return {
        "dataset": data.name,
        "method": method,
        "budget_per_class": per_class,
        "n_train": sel.size,
        "clean_acc": accuracy(model, Xt, yt),
        "clean_acc_full_test": clean_full,
        "robust_acc": robust,
        "autoattack_acc": aa,
        "robust_acc_all": {**robust, **aa},
        "seed": cfg.seed,
        "seconds": t4 - t0,
        "select_seconds": t1 - t0,
        "train_seconds": t2 - t1,
        "eval_seconds": t4 - t2,
        "autoattack_seconds": aa_seconds,
        "bound": bound,
        "train_final_loss": hist[-1]["loss"],
        **facts,
        "config": record_config(cfg),
    }


def _check_options(cfg: GridConfig, time_limit: float | None) -> None:
    """Refuse methods and time limits that make no sense."""
    if not cfg.methods:
        raise ValueError(f"no method given: choose from {', '.join(METHODS)}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int | np.integer):
        raise ValueError(f"--seed must be an integer, got {cfg.seed!r}")
    if not 0 <= cfg.seed < 2**31:
        raise ValueError(f"--seed must be an integer in [0, 2**31), got {cfg.seed}")
    if not cfg.attacks:
        raise ValueError("no PGD attack in the grid: robust accuracy needs at least one")
    bad = [m for m in cfg.methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {', '.join(bad)}: expected {', '.join(METHODS)}")
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit >= 0):
        raise ValueError(
            f"--time-limit must be a finite number of seconds >= 0, got {time_limit} "
            "(leave it out for no limit)"
        )


def _check_recipe(records: list[dict[str, Any]], cfg: GridConfig, path: Path) -> None:
    """Refuse a results file holding records of another recipe than ``cfg``'s
    (:func:`clients.train.recipes.check_recipe`)."""
    check_recipe(records, record_config(cfg), path)


def _plan(cfg: GridConfig) -> list[tuple[str, int | None]]:
    """(method, budget) runs in order; ``full`` after the smallest budget (early reference)."""
    subsets = [m for m in cfg.methods if m != "full"]
    plan: list[tuple[str, int | None]] = [(m, b) for b in cfg.budgets for m in subsets]
    if "full" in cfg.methods:
        plan.insert(min(len(plan), len(subsets)), ("full", None))
    return plan


def _summary(method: str, b: int | None, rec: dict[str, Any]) -> str:
    """One log line for a finished run."""
    accs = {**rec["robust_acc"], **rec["autoattack_acc"]}
    budget = "all" if b is None else str(b)
    return (
        f"{method:8s} b={budget:5s} n={rec['n_train']:6d} clean={rec['clean_acc']:.3f} "
        + "".join(f"{k}={v:.3f} " for k, v in accs.items())
        + f"({rec['seconds']:.0f} s)"
    )


def pending(
    records: list[dict[str, Any]], cfg: GridConfig, dataset: str
) -> list[tuple[str, int | None]]:
    """The (method, budget) runs of ``cfg`` on ``dataset`` (a loaded name: mnist or digits)
    that ``records`` do not hold yet, in run order."""
    done = {record_key(r) for r in records}
    rec = recipe(record_config(cfg))
    return [(m, b) for m, b in _plan(cfg) if (dataset, m, b, cfg.seed, rec) not in done]


def run_experiment(
    dataset: str,
    out: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    time_limit: float | None = None,
    progress: bool = False,
    cfg: GridConfig | None = None,
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the grid on ``dataset``; records go to ``<out>.json`` (skipping those already there),
    then ``<out>.md`` and ``<out>-*.png``. No new run starts after ``time_limit`` seconds.

    Bad options, output paths and an existing ``<out>.json`` that is not a results file raise
    ValueError before any run."""
    from clients.train.baselines import check_budget
    from clients.train.data import load_data

    cfg = replace(cfg or grid_config(quick), seed=seed)
    if dataset not in ("mnist", "digits", "auto"):
        raise ValueError(f"unknown dataset {dataset!r}: expected mnist or digits")
    _check_options(cfg, time_limit)
    stem = output_stem(out)
    check_outputs(stem)
    json_path = output_paths(stem)[0]
    records = load_records(json_path)
    _check_recipe(records, cfg, json_path)
    data = load_data(dataset)
    for per_class in cfg.budgets:
        check_budget(data.y_train, per_class)
    t0 = time.perf_counter()
    for method, b in pending(records, cfg, data.name):
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            left = len(pending(records, cfg, data.name))
            echo(f"time limit reached: {left} run(s) left (rerun to resume)")
            break
        rec = run_one(data, method, b, cfg, progress)
        problem = record_problem(rec)
        if problem:
            budget = "all data" if b is None else f"budget {b}"
            raise ValueError(
                f"{method} at {budget}: the run's record {problem}; it is not written "
                f"({json_path} keeps the {len(records)} records before it)"
            )
        records.append(rec)
        write_outputs(records, stem)
        echo(_summary(method, b, rec))
    write_outputs(records, stem)
    return records
