"""The fraction grid's runner: pending runs in order, several workers sharing one results file
under a lock, resumable; the outputs (JSON, Markdown, plots) and the AutoAttack pass."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from clients.train.curve.config import CurveConfig, plan, record_config
from clients.train.curve.records import curve_key, curve_problem, curve_table, plot_curve
from clients.train.curve.run import eval_set, model_path, run_point
from clients.train.results import load_records, recipe

__all__ = ["autoattack_pass", "curve_header", "load_curve", "run_curve", "write_curve"]

log = logging.getLogger(__name__)


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
    shard: tuple[int, int] = (0, 1),
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Standard AutoAttack (``cfg.autoattack``, ``autoattack_n`` of the evaluation images) on
    the kept models of ``autoattack_methods`` at ``autoattack_fractions`` (and full data),
    regime ``steps``, pixel space, count-weighted covers, first seed: subsets first, budget by
    budget, full data last; ``shard`` ``(i, k)`` takes every k-th of them from the i-th, so
    several processes can share the pass. Each result is written into its record."""
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
        and r["weighting"] == ("counts" if r["method"] == "mfc" else "none")
        and r["seed"] == cfg.seeds[0]
        and r["autoattack_acc"] is None
        and recipe(r["config"]) == recipe(record_config(cfg, 0))
    ]
    # the subsets' comparison first, budget by budget; full data last
    want.sort(key=lambda r: (r["method"] == "full", r["fraction"], r["method"] != "mfc"))
    i, k = shard
    want = want[i::k]
    Xt, yt, _ = eval_set(data, cfg)
    Xa, ya = Xt[: cfg.autoattack_n], yt[: cfg.autoattack_n]
    for r in want:
        key = curve_key(r)
        model = build_model(cfg.model, data.shape, data.n_classes, cfg.width)
        model.load_state_dict(torch.load(model_path(stem, key), weights_only=True))
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
