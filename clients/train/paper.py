"""The paper's comparison at full strength, in one timed call on a GPU: adversarial training with
one Madry-style recipe on every training set of a bundle (:mod:`clients.train.paper_bundle`:
MFC, stratified random and DM at equal budgets, and the full data), evaluated with PGD-20 and
standard AutoAttack.

The run sizes itself: it times ``calib_steps`` training steps on the largest set first and
gives every set the same number of optimiser steps (``regime="steps"``) so that training fits
``train_share`` of what is left of ``budget_s``; the evaluation follows, AutoAttack last and only
while time is left (a model whose AutoAttack did not run has ``autoattack_acc: null`` and a
note). Records are written after every model, so a run stopped early keeps what it finished.
Nothing here imports the engine (FAISS, pydantic): the device machine lacks them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from clients.train.attacks import pgd
from clients.train.models import build_model
from clients.train.paper_bundle import Bundle, TrainingSet, load_bundle, npz_bytes, write_atomic
from clients.train.trainer import batches, weighted_loss

__all__ = [
    "MADRY",
    "Recipe",
    "accuracy",
    "autoattack_accuracy",
    "calibrate",
    "dry_run_recipe",
    "pgd_accuracy",
    "run_paper",
    "size_steps",
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


def _sync(dev: torch.device) -> None:
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
            _sync(dev)
            t = time.perf_counter()
        idx = torch.randint(X.shape[0], (bs,), device=dev, generator=gen)
        train_step(model, opt, X[idx], y[idx], None, r.train_eps, r, gen)
    _sync(dev)
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


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    import platform

    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def _condense_on_device(
    b: Bundle,
    seeds: list[int],
    iterations: int,
    seconds: float | None,
    changes: dict[str, Any],
    dev: torch.device,
    echo: Callable[[str], None],
) -> tuple[list[TrainingSet], dict[str, np.ndarray]]:
    """DM sets of the bundle's budgets, learnt here (all sizes of a seed together)."""
    from clients.train.baselines.dm import DMConfig, condense

    budgets = [int(v) for v in b.meta["budgets"]]
    out, arrays = [], {}
    for seed in seeds:
        cfg = DMConfig.paper(iterations=iterations, seed=seed, **changes)
        limit = None if seconds is None else seconds / len(seeds)
        res = condense(b.X_train, b.y_train, budgets, b.shape, cfg, device=dev, time_limit=limit)
        for k, r in zip(budgets, res, strict=True):
            name = f"dm-b{k}-s{seed}"
            arrays[name + ".X"], arrays[name + ".y"] = r.X, r.y
            info = {
                "dm": cfg.as_dict(),
                "dm_iterations": r.iterations,
                "dm_seconds": r.seconds,
                "dm_device": _device_name(dev),
                "dm_loss_first": r.losses[0] if r.losses else None,
                "dm_loss_last": float(np.mean(r.losses[-10:])) if r.losses else None,
            }
            out.append(
                TrainingSet(name, "dm", k, seed, "none", None, r.X, r.y, np.ones(len(r.y)), info)
            )
        echo(f"DM (seed {seed}): {res[0].iterations} iterations in {res[0].seconds:.0f} s")
    return out, arrays


#: order in which AutoAttack runs while time lasts (the paper's comparison first)
def _aa_priority(ts: TrainingSet) -> tuple[int, int, int, int]:
    """The per-class budgets first (dm, mfc, random), then full, then the fractions."""
    group = 1 if ts.method == "full" else (2 if "fraction" in ts.info else 0)
    rank = {"dm": 0, "mfc": 1, "random": 2, "full": 3}[ts.method]
    return (group, ts.budget_per_class or 0, rank, ts.seed)


def run_paper(
    bundle: str | Path,
    out: str | Path,
    *,
    recipe: Recipe | None = None,
    budget_s: float = 540.0,
    train_share: float = 0.55,
    calib_steps: int = 30,
    aa_first_guess: float = 30.0,
    methods: tuple[str, ...] = ("dm", "mfc", "random", "full"),
    seeds: tuple[int, ...] | None = None,
    dm_iterations: int = 0,
    dm_seconds: float | None = None,
    dm_changes: dict[str, Any] | None = None,
    device: str | None = None,
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train and evaluate every set of ``bundle`` within ``budget_s`` seconds; records go to
    ``<out>.json``/``.md``/``.png`` (and DM sets learnt here to ``<out>-dm-sets.npz``).

    ``dm_iterations > 0`` learns the DM sets here (at most ``dm_seconds``), replacing the
    bundle's; otherwise the bundle's DM sets are used."""
    from clients.train.paper_report import write_paper_outputs

    t0 = time.perf_counter()
    r = recipe or Recipe()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = _device_name(dev)
    stem = Path(out)
    b = load_bundle(bundle)
    keep = set(seeds) if seeds is not None else set(int(s) for s in b.meta["seeds"])
    sets = [s for s in b.sets if s.method in methods and s.seed in keep]
    dm_note = "DM sets from the bundle"
    if dm_iterations > 0 and "dm" in methods:
        sets = [s for s in sets if s.method != "dm"]
        dm_sets, arrays = _condense_on_device(
            b, sorted(keep), dm_iterations, dm_seconds, dm_changes or {}, dev, echo
        )
        sets += dm_sets
        write_atomic(stem.with_name(stem.name + "-dm-sets.npz"), npz_bytes(arrays))
        dm_note = f"DM sets learnt on {name}"
    if not sets:
        raise ValueError("the bundle holds no training set of the methods and seeds asked for")
    shape, n_all = b.shape, len(b.y_train)
    big = max(sets, key=lambda s: s.size)
    Xc = torch.from_numpy(big.X).reshape(-1, *shape).to(dev)
    sec = calibrate(Xc, torch.from_numpy(big.y).to(dev), r, b.n_classes, calib_steps, dev)
    del Xc
    left = budget_s - (time.perf_counter() - t0)
    steps = size_steps(left * train_share, len(sets), sec, r)
    r = replace(r, steps=steps)
    epoch_s = sec * math.ceil(n_all / r.batch_size)
    echo(
        f"{name}: {sec * 1000:.1f} ms per PGD-{r.attack_steps} step of {r.batch_size} "
        f"(an epoch of {n_all}: {epoch_s:.1f} s); {len(sets)} runs x {steps} steps"
    )
    rd = r.as_dict()
    rng = np.random.default_rng(0)
    te = np.sort(rng.choice(len(b.y_test), size=min(r.eval_n, len(b.y_test)), replace=False))
    Xt = torch.from_numpy(b.X_test[te]).reshape(-1, *shape).to(dev)
    yt = torch.from_numpy(b.y_test[te]).to(dev)
    Xall = torch.from_numpy(b.X_test).reshape(-1, *shape).to(dev)
    yall = torch.from_numpy(b.y_test).to(dev)
    header = (
        f"# Paper run on {name}\n\nRecipe (the same for every method): {json.dumps(rd)}\n\n"
        f"Sizing: {sec * 1000:.1f} ms per training step measured over {calib_steps} steps "
        f"(an epoch of the full data: {epoch_s:.1f} s); budget {budget_s:.0f} s, "
        f"{train_share:.0%} of it for training. {dm_note}. Madry et al.: {json.dumps(MADRY)}.\n"
    )
    records: list[dict[str, Any]] = []
    models: list[tuple[TrainingSet, nn.Module, dict[str, Any]]] = []
    for ts in sorted(sets, key=_aa_priority):
        if time.perf_counter() - t0 > budget_s - 10:
            echo(f"time budget spent: {ts.name} and later sets not trained")
            break
        a = time.perf_counter()
        model, facts = train_set(ts, r, shape, b.n_classes, dev)
        _sync(dev)
        t_train = time.perf_counter() - a
        rec = {
            "dataset": b.dataset,
            "method": ts.method,
            "budget_per_class": ts.budget_per_class,
            "fraction": ts.size / n_all,
            "n_train": ts.size,
            "seed": ts.seed,
            "regime": r.regime,
            "space": "pixels",
            "weighting": ts.weighting,
            "eta": ts.eta,
            "clean_acc": accuracy(model, Xt, yt),
            "clean_acc_full_test": accuracy(model, Xall, yall),
            "robust_acc": pgd_accuracy(model, Xt, yt, r, ts.seed),
            "autoattack_acc": None,
            "autoattack_note": "not run yet",
            "cost_samples": facts["cost_samples"],
            "seconds": time.perf_counter() - a,
            "train_seconds": t_train,
            "autoattack_seconds": 0.0,
            "steps": steps,
            "epochs": facts["epochs"],
            "train_final_loss": facts["train_final_loss"],
            "device": name,
            "recipe": rd,
            "config": {**rd, "seed": ts.seed},
            "set": {"name": ts.name, **ts.info},
        }
        records.append(rec)
        models.append((ts, model, rec))
        write_paper_outputs(records, stem, header)
        echo(
            f"{ts.name:18s} n={ts.size:6d} clean={rec['clean_acc']:.3f} "
            + " ".join(f"{k}={v:.3f}" for k, v in rec["robust_acc"].items())
            + f" ({t_train:.0f} s)"
        )
    _autoattack_all(models, Xt, yt, r, (t0, budget_s, aa_first_guess), records, stem, header, echo)
    return records


def _autoattack_all(
    models: list[tuple[TrainingSet, nn.Module, dict[str, Any]]],
    Xt: torch.Tensor,
    yt: torch.Tensor,
    r: Recipe,
    clock: tuple[float, float, float],
    records: list[dict[str, Any]],
    stem: Path,
    header: str,
    echo: Callable[[str], None],
) -> None:
    """AutoAttack on every model in turn while the budget lasts; ``clock`` is (start, budget,
    guess): a run is begun only when 1.5x the longest so far (``guess`` before the first) and
    5 s are left."""
    from clients.train.paper_report import write_paper_outputs

    try:
        import pyautoattack  # noqa: F401
    except ImportError:
        for _, _, rec in models:
            rec["autoattack_note"] = "not run: pyautoattack is not installed"
        write_paper_outputs(records, stem, header)
        echo("AutoAttack skipped: pyautoattack is not installed")
        return
    t0, budget_s, guess = clock
    Xa, ya = Xt[: r.autoattack_n], yt[: r.autoattack_n]
    longest = guess
    for ts, model, rec in models:
        got: dict[str, float] = {}
        a = time.perf_counter()
        for norm, eps in r.autoattack:
            if budget_s - (time.perf_counter() - t0) < 1.5 * longest + 5:
                log.info("AutoAttack on %s not begun: too little time left", ts.name)
                break
            s = time.perf_counter()
            got[f"aa-{norm}-{eps:g}"] = autoattack_accuracy(model, Xa, ya, norm, eps, r, ts.seed)
            longest = max(longest, time.perf_counter() - s)
        done = len(got) == len(r.autoattack)
        rec["autoattack_acc"] = got if done else None
        rec["autoattack_note"] = (
            f"{r.autoattack_version} AutoAttack on {Xa.shape[0]} test images"
            if done
            else "not run: time budget spent"
        )
        rec["autoattack_seconds"] = time.perf_counter() - a
        rec["seconds"] += rec["autoattack_seconds"]
        write_paper_outputs(records, stem, header)
        if done:
            echo(f"{ts.name:18s} " + " ".join(f"{k}={v:.3f}" for k, v in got.items()))
