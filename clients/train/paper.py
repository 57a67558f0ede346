"""The recipe of the paper run and its parts: one Madry-style adversarial training recipe
(:class:`Recipe`, the same for every method), a training step, training a set for a fixed number
of steps, clean and PGD accuracy and standard AutoAttack, all on any torch device. The run that
uses them is :mod:`clients.train.paper_run`. Nothing here imports the engine (FAISS, pydantic):
the device machine lacks them."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from clients.train.attacks import pgd
from clients.train.models import build_model
from clients.train.paper_bundle import TrainingSet
from clients.train.trainer import batches, weighted_loss

__all__ = [
    "MADRY",
    "Recipe",
    "accuracy",
    "autoattack_accuracy",
    "calibrate",
    "dry_run_recipe",
    "pgd_accuracy",
    "size_steps",
    "sync_device",
    "train_set",
    "train_step",
]

log = logging.getLogger(__name__)

#: what Madry et al. (ICLR 2018) trained on MNIST, for the record of what is cut
MADRY = {
    "model": "conv32-conv64 (5x5, max-pool) + fc1024",
    "attack": "PGD-40, L-inf 0.3, step 0.01, random start",
    "optimizer": "Adam 1e-4",
    "batch_size": 50,
    "steps": 100_000,
}


@dataclass(frozen=True)
class Recipe:
    """The one training and evaluation recipe of a run (the same for every method).

    ``steps`` is None until the run sizes it; ``max_steps`` defaults to Madry's sample count
    (100,000 steps of 50) at ``batch_size``."""

    model: str = "cnn"
    width: int = 32
    train_eps: float = 0.3
    train_norm: str = "linf"
    attack_steps: int = 40
    alpha: float = 0.01
    random_start: bool = True
    eps_warmup: float = 0.2
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "cosine"
    regime: str = "steps"
    steps: int | None = None
    min_steps: int = 200
    max_steps: int = 39_063
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
    autoattack_version: str = "standard"
    autoattack_n: int = 1000

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))


def dry_run_recipe() -> Recipe:
    """A recipe for a rehearsal on CPU in about a minute (digits): the same attacks and
    AutoAttack version, a narrow model, few evaluation images."""
    return Recipe(width=8, batch_size=64, min_steps=10, eval_n=100, autoattack_n=40)


def size_steps(seconds: float, runs: int, sec_per_step: float, recipe: Recipe) -> int:
    """Optimiser steps per run so that ``runs`` runs take about ``seconds``, clipped to
    ``[recipe.min_steps, recipe.max_steps]``."""
    fit = math.floor(seconds / max(runs * sec_per_step, 1e-9))
    return int(min(recipe.max_steps, max(recipe.min_steps, fit)))


def sync_device(dev: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that timings are true."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    xb: torch.Tensor,
    yb: torch.Tensor,
    wb: torch.Tensor | None,
    eps: float,
    r: Recipe,
    gen: torch.Generator,
) -> torch.Tensor:
    """One adversarial training step (PGD at ``eps``, then the weighted loss); its loss."""
    alpha = r.alpha * eps / r.train_eps if r.train_eps > 0 else r.alpha
    xa = pgd(
        model,
        xb,
        yb,
        eps=eps,
        norm=r.train_norm,
        steps=r.attack_steps,
        alpha=alpha,
        random_start=r.random_start,
        generator=gen,
    )
    model.train()
    loss = weighted_loss(model(xa), yb, wb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def _new_model(
    r: Recipe, shape: tuple[int, int, int], n_classes: int, dev: torch.device
) -> nn.Module:
    return build_model(r.model, shape, n_classes, r.width).to(dev)


def calibrate(
    X: torch.Tensor, y: torch.Tensor, r: Recipe, n_classes: int, steps: int, dev: torch.device
) -> float:
    """Seconds per training step at full ``train_eps`` on batches of ``X`` (a throwaway model,
    two warm-up steps first)."""
    model = _new_model(r, (X.shape[1], X.shape[2], X.shape[3]), n_classes, dev)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    gen = torch.Generator(device=dev).manual_seed(0)
    bs = min(r.batch_size, X.shape[0])
    t = 0.0
    for i in range(2 + steps):
        if i == 2:
            sync_device(dev)
            t = time.perf_counter()
        idx = torch.randint(X.shape[0], (bs,), device=dev, generator=gen)
        train_step(model, opt, X[idx], y[idx], None, r.train_eps, r, gen)
    sync_device(dev)
    return (time.perf_counter() - t) / max(steps, 1)


def train_set(
    ts: TrainingSet, r: Recipe, shape: tuple[int, int, int], n_classes: int, dev: torch.device
) -> tuple[nn.Module, dict[str, Any]]:
    """Train a fresh model on ``ts`` for ``r.steps`` steps (seed ``ts.seed``); the model and
    facts (final loss, samples, epochs)."""
    assert r.steps is not None
    torch.manual_seed(ts.seed)
    gen_b = torch.Generator().manual_seed(ts.seed)
    gen_a = torch.Generator(device=dev).manual_seed(ts.seed)
    model = _new_model(r, shape, n_classes, dev)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.steps)
    X = torch.from_numpy(ts.X).reshape(-1, *shape).to(dev)
    y = torch.from_numpy(ts.y).to(dev)
    w = torch.as_tensor(ts.weights, dtype=torch.float32, device=dev)
    weighted = ts.weighting == "counts"
    m, bs = ts.size, min(r.batch_size, ts.size)
    tail = max(1, r.steps // 10)
    loss_tail = torch.zeros((), device=dev)
    for i, idx in enumerate(batches(m, r.batch_size, r.steps, None, gen_b)):
        idx = idx.to(dev)
        eps = r.train_eps
        if r.eps_warmup > 0:
            eps = r.train_eps * min(1.0, (i + 1) / (r.eps_warmup * r.steps))
        loss = train_step(model, opt, X[idx], y[idx], w[idx] if weighted else None, eps, r, gen_a)
        sched.step()
        if i >= r.steps - tail:
            loss_tail += loss
    final = float(loss_tail) / tail
    if not math.isfinite(final):
        raise ValueError(f"training on {ts.name} diverged (loss {final})")
    model.eval()
    samples = r.steps * bs
    return model, {
        "train_final_loss": final,
        "samples": samples,
        "cost_samples": samples * (r.attack_steps + 1),
        "epochs": samples / m,
    }


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, bs: int = 2000) -> float:
    """Clean accuracy on (X (n, C, H, W), y (n,))."""
    model.eval()
    hits = sum(
        int((model(X[i : i + bs]).argmax(1) == y[i : i + bs]).sum())
        for i in range(0, X.shape[0], bs)
    )
    return hits / max(X.shape[0], 1)


def pgd_accuracy(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, r: Recipe, seed: int
) -> dict[str, float]:
    """Accuracy under PGD-``r.pgd_steps`` for every attack of ``r`` (``pgd-linf-0.3``, ...);
    clean errors count as failures."""
    gen = torch.Generator(device=X.device).manual_seed(seed)
    with torch.no_grad():
        ok = model(X).argmax(1) == y
    out = {}
    for norm, eps in r.attacks:
        hits = 0
        if bool(ok.any()):
            adv = pgd(
                model,
                X[ok],
                y[ok],
                eps=eps,
                norm=norm,
                steps=r.pgd_steps,
                restarts=r.pgd_restarts,
                generator=gen,
            )
            hits = int((model(adv).argmax(1) == y[ok]).sum())
        out[f"pgd-{norm}-{eps:g}"] = hits / max(X.shape[0], 1)
    return out


def autoattack_accuracy(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, norm: str, eps: float, r: Recipe, seed: int
) -> float:
    """Accuracy under AutoAttack (``r.autoattack_version``, standard: APGD-CE, APGD-T, FAB-T,
    Square) at ``eps`` in ``norm``, on the device of ``X``."""
    from pyautoattack import AutoAttack

    model.eval()
    aa = AutoAttack(
        model,
        norm="Linf" if norm == "linf" else "L2",
        eps=eps,
        version="standard" if r.autoattack_version == "standard" else "custom",
        device=X.device,
        seed=seed,
    )
    aa.verbose = False
    logging.getLogger("auto-attack").setLevel(logging.WARNING)
    res = aa.run_standard_evaluation(X, y, batch_size=1000)
    x_adv = res[0] if isinstance(res, tuple) else res  # pyautoattack: (x_adv, y_adv)
    delta = (x_adv - X).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    if float(size.max()) > eps + 1e-4 or float(x_adv.min()) < 0 or float(x_adv.max()) > 1:
        raise ValueError(f"AutoAttack returned points outside the {norm} ball of {eps} or [0, 1]")
    return accuracy(model, x_adv, y)
