"""One run of the fraction grid: select its training set, adversarially train, evaluate."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clients.train.curve.config import CurveConfig, Point, record_config, steps_of
from clients.train.curve.records import CURVE_METHODS
from clients.train.curve.spaces import cache_dir, space_rows
from clients.train.data import Dataset
from clients.train.fractions import (
    cover_at_size,
    kcenter_counts,
    matched_subset,
    stratified_counts,
    stratified_cover,
    stratified_subset,
    training_weights,
)

__all__ = ["eval_set", "model_path", "run_point", "select"]


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
    if p.method == "mfc_stratified":
        cov = stratified_cover(X, y, counts, metric=cfg.cover_metric, cache=cache)
        facts = {
            "eta": cov.eta,
            "cover_radius": cov.radius,
            "cover_seconds": cov.seconds,
            "max_weight": int(cov.weights.max()),
        }
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


def model_path(stem: Path, key: tuple[Any, ...]) -> Path:
    h = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:20]
    return cache_dir(stem) / "models" / f"{h}.pt"


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
    pick = select(p, data, cfg, cache_dir(stem))
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
    Xt, yt, _ = eval_set(data, cfg)
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
    path = model_path(stem, key)
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


def eval_set(data: Dataset, cfg: CurveConfig) -> tuple[Any, Any, np.ndarray]:
    """The fixed evaluation images (the same ``eval_n`` test images for every run)."""
    import torch

    from clients.train.trainer import to_images

    rng = np.random.default_rng(0)
    te = rng.choice(len(data.y_test), size=min(cfg.eval_n, len(data.y_test)), replace=False)
    return to_images(data.X_test[te], data.shape), torch.from_numpy(data.y_test[te]), te
