"""The paper run itself (``python -m clients.train.paper_cli run``): learn DM on the device if
asked, size the steps from a timed calibration, train and evaluate every set of a bundle with
one recipe (:mod:`clients.train.paper`), AutoAttack last while time lasts, and write the records
after every model (:mod:`clients.train.paper_report`). Nothing here imports the engine."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from clients.train.paper import (
    MADRY,
    Recipe,
    accuracy,
    autoattack_accuracy,
    calibrate,
    pgd_accuracy,
    size_steps,
    sync_device,
    train_set,
)
from clients.train.paper_bundle import Bundle, TrainingSet, load_bundle, npz_bytes, write_atomic

__all__ = ["run_paper"]

log = logging.getLogger(__name__)


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
        sync_device(dev)
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
