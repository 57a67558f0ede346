"""``covering train``: load data and a cover, check the fingerprint, train, evaluate."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from clients.train.config import MAX_RADIUS, TrainConfig
from clients.train.evaluate import MNIST_ATTACKS, AttackSpec

__all__ = ["TrainRequest", "run_train"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRequest:
    """Everything ``covering train`` was asked for (see its ``--help``).

    ``train.eps`` is the attack radius ``eps`` as given; with ``radius="bound"`` training runs
    at ``eps + eta`` of the cover.
    """

    dataset: str
    manifest: str | None = None
    labels: Path | None = None
    test_x: Path | None = None
    test_y: Path | None = None
    image_shape: str | None = None
    server: str | None = None
    token: str | None = None
    model: str = "cnn"
    width: int | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    radius: str = "eps"
    checkpoint: Path | None = None
    eval_n: int = 1000
    attacks: tuple[AttackSpec, ...] = MNIST_ATTACKS
    pgd_steps: int = 20
    restarts: int = 1
    autoattack: bool = False
    bound: bool = True
    progress: bool = False


def run_train(req: TrainRequest, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train as asked and return a result record (also echoed as a few lines)."""
    import torch

    from clients.train.data import Selection, load_data, load_manifest, selection_from_manifest
    from clients.train.evaluate import (
        AA_MIN_CLASSES,
        accuracy,
        autoattack_accuracy,
        autoattack_available,
        robust_accuracy,
        sample_bound,
    )
    from clients.train.models import build_model
    from clients.train.trainer import seed_everything, to_images, train

    if req.radius not in ("eps", "bound"):
        raise ValueError(f"radius must be eps or bound, got {req.radius!r}")
    if req.autoattack and not autoattack_available():
        raise ValueError("--autoattack needs pyautoattack: install covering[eval]")
    data = load_data(
        req.dataset, labels=req.labels, test_x=req.test_x, test_y=req.test_y, shape=req.image_shape
    )
    if req.autoattack and data.n_classes < AA_MIN_CLASSES:
        raise ValueError(
            f"--autoattack needs at least {AA_MIN_CLASSES} classes (targeted DLR loss); "
            f"{data.name} has {data.n_classes}"
        )
    if req.manifest is not None:
        m, arrays = load_manifest(req.manifest, server=req.server, token=req.token)
        sel = selection_from_manifest(
            m, arrays, data.X_train, data.y_train, data.labels_fingerprint
        )
        echo(
            f"cover {m.cover_id}: {sel.size} centres for {data.X_train.shape[0]} rows, "
            f"eta={sel.eta:.4g} ({sel.metric})"
        )
    else:
        sel = Selection(
            data.X_train, data.y_train, np.ones(len(data.y_train)), np.arange(len(data.y_train))
        )
        echo(f"no manifest: training on all {sel.size} rows of {data.name}")
    cfg = req.train
    no_bound = _why_no_bound(sel.eta, sel.metric, cfg)
    if req.radius == "bound":
        if no_bound is not None:
            raise ValueError(f"--radius bound adds the cover's eta to eps, but {no_bound}")
        assert sel.eta is not None
        cfg = replace(cfg, eps=cfg.eps + sel.eta)
    seed = cfg.seed
    seed_everything(seed)
    model = build_model(req.model, data.shape, data.n_classes, req.width)
    Xs, ys = to_images(sel.X, data.shape), torch.from_numpy(sel.y)
    t0 = time.perf_counter()
    hist = train(model, Xs, ys, sel.weights, cfg, checkpoint=req.checkpoint, progress=req.progress)
    t_train = time.perf_counter() - t0
    Xt_all, yt_all = to_images(data.X_test, data.shape), torch.from_numpy(data.y_test)
    clean = accuracy(model, Xt_all, yt_all)
    rng = np.random.default_rng(seed)
    te = np.sort(
        rng.choice(len(data.y_test), size=min(req.eval_n, len(data.y_test)), replace=False)
    )
    Xt, yt = Xt_all[te], yt_all[te]
    robust = robust_accuracy(
        model, Xt, yt, list(req.attacks), steps=req.pgd_steps, restarts=req.restarts, seed=seed
    )
    aa: dict[str, float] = {}
    if req.autoattack:
        for spec in req.attacks:
            aa[f"aa-{spec.norm}-{spec.eps:g}"] = autoattack_accuracy(
                model, Xt, yt, spec.norm, spec.eps, seed=seed
            )
    bound = None
    if req.bound and no_bound is None:
        bound = sample_bound(
            model,
            data,
            sel,
            n=req.eval_n,
            eps=req.train.eps,
            norm=cfg.norm,
            steps=req.pgd_steps,
            rng=rng,
            seed=seed,
        )
    echo(
        f"trained {req.model} on {sel.size} points ({cfg.norm} eps={cfg.eps:.4g}) in "
        f"{t_train:.1f} s; final training loss {hist[-1]['loss']:.4f}"
    )
    echo(f"clean accuracy {clean:.4f} ({data.test_split} split, {len(yt_all)} images)")
    for k, v in {**robust, **aa}.items():
        echo(f"robust accuracy {k}: {v:.4f} ({len(te)} images)")
    if req.bound and sel.eta is not None and no_bound is not None:
        echo(f"bound: not reported ({no_bound})")
    if bound is not None:
        echo(
            f"bound: weighted cover loss at eps+eta={bound['eps'] + bound['eta']:.4g} is "
            f"{bound['cover_loss']:.4f}; full-data adversarial loss at eps={bound['eps']:g} "
            f"(on {min(req.eval_n, len(data.y_train))} training rows) is "
            f"{bound['full_loss']:.4f}: {'holds' if bound['holds'] else 'does not hold'}"
        )
    return {
        "dataset": data.name,
        "n_train": sel.size,
        "clean_acc": clean,
        "robust_acc": robust,
        "autoattack_acc": aa,
        "bound": bound,
        "seed": seed,
        "train_seconds": t_train,
        "history": hist,
        "eps_train": cfg.eps,
    }


def _why_no_bound(eta: float | None, metric: str | None, cfg: TrainConfig) -> str | None:
    """Why the cover bound does not apply to ``cfg``'s attacks, or None when it does: every
    row must lie within ``eta`` of its centre in the attack's norm (an l2 cover also bounds
    linf attacks, since |v|_inf <= |v|_2), and ``eps + eta`` must be a usable radius."""
    if eta is None:
        return "there is no cover (no manifest)"
    if not (metric == cfg.norm or (metric == "l2" and cfg.norm == "linf")):
        return (
            f"{metric} cover radii do not bound {cfg.norm} attacks: that needs a cover in the "
            f"{cfg.norm} metric (or l2 under linf)"
        )
    if not cfg.eps + eta <= MAX_RADIUS:
        return f"eps + eta = {cfg.eps + eta:g} exceeds the largest radius {MAX_RADIUS:g}"
    return None
