"""The experiment grid: methods x budgets per class (+ full data), resumable JSON records, a
Markdown table and PNG plots."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from clients.train.data import Dataset, Selection

__all__ = [
    "METHODS",
    "GridConfig",
    "grid_config",
    "run_experiment",
    "run_one",
    "select",
    "write_outputs",
]

log = logging.getLogger(__name__)

#: training-set methods, in table order
METHODS = ("mfc", "dm", "kcenter", "random", "full")


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
        cover_bound,
        robust_accuracy,
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
        bi = rng.choice(len(data.y_train), size=min(cfg.bound_n, len(data.y_train)), replace=False)
        bound = cover_bound(
            model,
            Xs,
            ys,
            torch.as_tensor(sel.weights),
            to_images(data.X_train[bi], data.shape),
            torch.from_numpy(data.y_train[bi]),
            eps=cfg.train_eps,
            eta=sel.eta,
            norm=cfg.train_norm,
            steps=cfg.pgd_steps,
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
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("budgets", "methods")},
    }


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["dataset"], r["method"], r["budget_per_class"], r["seed"])


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
    then ``<out>.md`` and ``<out>-*.png``. No new run starts after ``time_limit`` seconds."""
    from clients.train.data import load_data

    cfg = replace(cfg or grid_config(quick), seed=seed)
    if dataset not in ("mnist", "digits", "auto"):
        raise ValueError(f"unknown dataset {dataset!r}: expected mnist or digits")
    data = load_data(dataset)
    for b in cfg.budgets:
        from clients.train.baselines import check_budget

        check_budget(data.y_train, b)
    stem = Path(out)
    if stem.suffix == ".json":
        stem = stem.with_suffix("")
    path = stem.with_suffix(".json")
    records: list[dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else []
    done = {_key(r) for r in records}
    plan = [(m, b) for b in cfg.budgets for m in cfg.methods if m != "full"]
    if "full" in cfg.methods:  # after the smallest budget: the reference comes early
        plan.insert(min(len(plan), len([m for m in cfg.methods if m != "full"])), ("full", None))  # type: ignore[arg-type]
    t0 = time.perf_counter()
    for method, b in plan:
        key = (data.name, method, b, cfg.seed)
        if key in done:
            continue
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            echo(f"time limit reached: {len(plan) - len(done)} run(s) left (rerun to resume)")
            break
        rec = run_one(data, method, b, cfg, progress)
        records.append(rec)
        done.add(key)
        write_outputs(records, stem)
        aa = " ".join(f"{k}={v:.3f}" for k, v in rec["autoattack_acc"].items())
        echo(
            f"{method:8s} b={b!s:5s} n={rec['n_train']:6d} clean={rec['clean_acc']:.3f} "
            + " ".join(f"{k}={v:.3f}" for k, v in rec["robust_acc"].items())
            + (f" {aa}" if aa else "")
            + f" ({rec['seconds']:.0f} s)"
        )
    write_outputs(records, stem)
    return records


def write_outputs(records: list[dict[str, Any]], stem: str | Path) -> None:
    """``<stem>.json`` (records), ``<stem>.md`` (table), ``<stem>-robust.png`` (robust accuracy
    vs budget per method) and ``<stem>-tradeoff.png`` (clean vs robust)."""
    from covering.io import write_bytes_atomic

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(stem.with_suffix(".json"), json.dumps(records, indent=1).encode())
    write_bytes_atomic(stem.with_suffix(".md"), table(records).encode())
    if records:
        _plots(records, stem)


def _order(r: dict[str, Any]) -> tuple[int, int]:
    return (r["budget_per_class"] or 10**9, METHODS.index(r["method"]))


def table(records: list[dict[str, Any]]) -> str:
    """A Markdown table: one row per record, clean and robust accuracies in %."""
    names: list[str] = []
    for r in records:
        for k in r.get("robust_acc_all", r["robust_acc"]):
            if k not in names:
                names.append(k)
    head = ["method", "budget/class", "n train", "clean", *names, "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(records, key=_order):
        acc = r.get("robust_acc_all", r["robust_acc"])
        cells = [
            r["method"],
            "all" if r["budget_per_class"] is None else str(r["budget_per_class"]),
            str(r["n_train"]),
            f"{100 * r['clean_acc']:.1f}",
        ]
        cells += [f"{100 * acc[k]:.1f}" if k in acc else "-" for k in names]
        cells.append(f"{r['train_seconds']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plots(records: list[dict[str, Any]], stem: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k for r in records for k in r.get("robust_acc_all", r["robust_acc"])})
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        for m in METHODS:
            rs = sorted((r for r in records if r["method"] == m), key=_order)
            acc = [
                (r["budget_per_class"], r.get("robust_acc_all", r["robust_acc"]).get(name))
                for r in rs
            ]
            if m == "full":
                for _, a in acc:
                    if a is not None:
                        ax.axhline(a, color="k", ls="--", lw=1, label="full")
                continue
            pts = [(b, a) for b, a in acc if a is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=m)
        ax.set_xscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("points per class")
        ax.set_ylim(0, 1)
    for row in axes:
        row[0].set_ylabel("robust accuracy")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(stem.with_name(stem.name + "-robust.png"), dpi=110)
    plt.close(fig)
    key = next((k for k in ("aa-linf-0.3", "pgd-linf-0.3") if k in names), names[0])
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for m in METHODS:
        rs = [r for r in records if r["method"] == m]
        xs = [r["clean_acc"] for r in rs]
        ys = [r.get("robust_acc_all", r["robust_acc"]).get(key, np.nan) for r in rs]
        ax.scatter(xs, ys, label=m)
        for r, x, yv in zip(rs, xs, ys, strict=True):
            ax.annotate(str(r["budget_per_class"] or "all"), (x, yv), fontsize=7)
    ax.set_xlabel("clean accuracy")
    ax.set_ylabel(f"robust accuracy ({key})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(stem.with_name(stem.name + "-tradeoff.png"), dpi=110)
    plt.close(fig)
