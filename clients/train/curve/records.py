"""The records of the fraction grid (``covering experiment --grid fractions``): their schema,
the Markdown tables (mean +- std over seeds, differences against stratified random) and the
plots (robust accuracy against fraction and against cost)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from clients.train.fractions import SPACES, WEIGHTINGS
from clients.train.results import (
    is_accuracies,
    is_accuracy,
    is_number,
    non_finite,
    recipe,
)

__all__ = [
    "CURVE_METHODS",
    "REGIMES",
    "Group",
    "curve_key",
    "curve_problem",
    "curve_table",
    "groups",
    "plot_curve",
]

#: training sets of the fraction grid, in table order
CURVE_METHODS = ("mfc", "mfc_stratified", "random", "random_matched", "kcenter", "dm", "full")
#: equal optimiser steps for every run, or equal epochs (cost proportional to the subset)
REGIMES = ("steps", "epochs")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dataset": (lambda v: isinstance(v, str), "a string"),
    "method": (lambda v: v in CURVE_METHODS, "one of " + ", ".join(CURVE_METHODS)),
    "fraction": (lambda v: is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "n_train": (lambda v: _int(v) and v > 0, "a positive integer"),
    "seed": (_int, "an integer"),
    "regime": (lambda v: v in REGIMES, "one of " + ", ".join(REGIMES)),
    "space": (lambda v: v in SPACES, "one of " + ", ".join(SPACES)),
    "weighting": (lambda v: v in WEIGHTINGS, "one of " + ", ".join(WEIGHTINGS)),
    "eta": (lambda v: v is None or (is_number(v) and v >= 0), "a number >= 0 or null"),
    "steps": (lambda v: _int(v) and v > 0, "a positive integer"),
    "clean_acc": (is_accuracy, "an accuracy in [0, 1]"),
    "robust_acc": (is_accuracies, "a non-empty object of accuracies in [0, 1]"),
    "autoattack_acc": (lambda v: v is None or is_accuracies(v), "null or an object of accuracies"),
    "cost_samples": (lambda v: _int(v) and v > 0, "a positive integer"),
    "seconds": (lambda v: is_number(v) and v >= 0, "a number >= 0"),
    "config": (lambda v: isinstance(v, dict), "an object"),
}


def curve_problem(r: Any) -> str | None:
    """What is wrong with a record of the fraction grid, or None."""
    if not isinstance(r, dict):
        return "is not an object"
    for name, (ok, what) in _FIELDS.items():
        if name not in r:
            return f"lacks {name!r}"
        if not ok(r[name]):
            return f"has {name} = {json.dumps(r[name])[:60]}, expected {what}"
    bad = non_finite(r)
    if bad:
        return f"holds a non-finite number at {bad[0]}"
    return None


def curve_key(r: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two records the same run."""
    return (
        r["dataset"],
        r["method"],
        round(float(r["fraction"]), 9),
        r["seed"],
        r["regime"],
        r["space"],
        r["weighting"],
        recipe(r.get("config")),
    )


def variant(r: dict[str, Any]) -> str:
    """A run's training set in words, e.g. ``mfc`` or ``mfc (pca, sqrt)``."""
    extra = [v for v, d in ((r["space"], "pixels"), (r["weighting"], "counts")) if v != d]
    if r["method"] != "mfc" and r["weighting"] == "none":
        extra = [v for v in extra if v != "none"]
    return r["method"] + (f" ({', '.join(extra)})" if extra else "")


class Group:
    """The records of one variant, regime and fraction (one per seed)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        r = records[0]
        self.variant, self.regime, self.fraction = variant(r), r["regime"], float(r["fraction"])

    def values(self, metric: str) -> np.ndarray:
        """The metric (``clean`` or an attack name, PGD or AutoAttack) of each seed."""
        out = []
        for r in self.records:
            if metric == "clean":
                out.append(r["clean_acc"])
            elif metric in r["robust_acc"]:
                out.append(r["robust_acc"][metric])
            elif r.get("autoattack_acc") and metric in r["autoattack_acc"]:
                out.append(r["autoattack_acc"][metric])
        return np.asarray(out, dtype=np.float64)

    def mean_std(self, metric: str) -> tuple[float, float, int]:
        v = self.values(metric)
        if v.size == 0:
            return math.nan, math.nan, 0
        return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size)

    def cost(self) -> float:
        return float(np.mean([r["cost_samples"] for r in self.records]))

    def near_chance(self) -> bool:
        """Mean clean accuracy below twice chance (``2 / classes``): such a model is close to a
        constant prediction, whose "robust accuracy" (about one class's share of the test set,
        whatever the attack) says nothing about robustness."""
        classes = max(2, len(self.records[0].get("class_counts") or []) or 10)
        return self.mean_std("clean")[0] < 2.0 / classes


def groups(records: Iterable[dict[str, Any]]) -> list[Group]:
    """Records grouped by variant, regime and fraction (seeds together)."""
    by: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by[(variant(r), r["regime"], round(float(r["fraction"]), 9), r["dataset"])].append(r)
    return [Group(v) for v in by.values()]


def _cell(g: Group | None, metric: str) -> str:
    if g is None:
        return "-"
    m, s, k = g.mean_std(metric)
    if k == 0:
        return "-"
    flag = " †" if metric != "clean" and g.near_chance() else ""
    return f"{100 * m:.1f} ± {100 * s:.1f}" + (f" ({k})" if k != 3 else "") + flag


def _order(name: str) -> tuple[int, str]:
    base = name.split(" ")[0]
    return (CURVE_METHODS.index(base) if base in CURVE_METHODS else 99, name)


def _diff(a: Group | None, b: Group | None, metric: str) -> str:
    """``a - b`` in points with its verdict: real when it exceeds two standard errors (never
    for a robust accuracy where either model is near chance: marked †)."""
    if a is None or b is None:
        return "-"
    va, vb = a.values(metric), b.values(metric)
    if va.size < 2 or vb.size < 2:
        return "-"
    d = va.mean() - vb.mean()
    se = math.sqrt(va.var(ddof=1) / va.size + vb.var(ddof=1) / vb.size)
    text = f"{100 * d:+.1f} ± {100 * se:.1f}"
    if metric != "clean" and (a.near_chance() or b.near_chance()):
        return text + " †"
    return text + (" **real**" if abs(d) > 2 * se else "")


def curve_table(records: list[dict[str, Any]], metrics: tuple[str, ...]) -> str:
    """Markdown: for each regime and metric, variants x fractions (mean ± std over seeds, in
    %; † marks robust accuracies of models near chance on clean accuracy), then the
    difference of every other training set (covers, matched random, k-center, DM) against
    stratified random."""
    gs = groups(records)
    lines: list[str] = []
    fracs = sorted({g.fraction for g in gs})
    for regime in REGIMES:
        mine = [g for g in gs if g.regime == regime]
        if not mine:
            continue
        at = {(g.variant, g.fraction): g for g in mine}
        names = sorted({g.variant for g in mine}, key=_order)
        head = "| training set | " + " | ".join(f"{100 * f:g}%" for f in fracs) + " |"
        rule = "|---|" + "---|" * len(fracs)
        for metric in metrics:
            lines += [f"### {metric}, regime `{regime}` (accuracy %, mean ± std over seeds)", ""]
            lines += [head, rule]
            for name in names:
                row = [_cell(at.get((name, f)), metric) for f in fracs]
                if not any(c != "-" for c in row):
                    continue
                lines.append(f"| {name} | " + " | ".join(row) + " |")
            lines.append("")
            covers = [n for n in names if n not in ("random", "full")]
            if covers and any(("random", f) in at for f in fracs):
                lines += [
                    f"{metric}, regime `{regime}`: each training set minus stratified random, "
                    "points "
                    "(± one standard error of the difference; **real** = beyond two; † = a "
                    "model near chance on clean accuracy, whose robust accuracy means nothing)",
                    "",
                    head,
                    rule,
                ]
                for name in covers:
                    row = [_diff(at.get((name, f)), at.get(("random", f)), metric) for f in fracs]
                    lines.append(f"| {name} - random | " + " | ".join(row) + " |")
                lines.append("")
    return "\n".join(lines)


def plot_curve(records: list[dict[str, Any]], metric: str, path: Path) -> None:
    """Three panels: ``metric`` against the fraction in regime ``steps`` and in regime
    ``epochs``, and every run against its cost in sample-gradient evaluations (log scale; dots:
    steps, squares: epochs); mean ± std over seeds, one colour per training set, hollow markers
    for models near chance on clean accuracy."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from covering.io import write_bytes_atomic

    gs = [g for g in groups(records) if g.mean_std(metric)[2] > 0]
    names = sorted({g.variant for g in gs}, key=_order)
    colour = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2), squeeze=False)
    cost_ax = axes[0][2]
    for col, regime in enumerate(REGIMES):
        ax = axes[0][col]
        mine = [g for g in gs if g.regime == regime]
        for name in names:
            line = sorted((g for g in mine if g.variant == name), key=lambda g: g.fraction)
            if not line:
                continue
            ms = np.array([g.mean_std(metric)[:2] for g in line])
            style = "--" if name.startswith("full") else "-"
            marker = "o" if regime == "steps" else "s"
            for target, x in (
                (ax, [g.fraction for g in line]),
                (cost_ax, [g.cost() for g in line]),
            ):
                target.errorbar(
                    x,
                    100 * ms[:, 0],
                    yerr=100 * ms[:, 1],
                    fmt=style,
                    color=colour[name],
                    capsize=2,
                    lw=1.2,
                    label=name if target is ax or regime == "steps" else None,
                )
                for g, xv, m in zip(line, x, ms[:, 0], strict=True):
                    hollow = g.near_chance()
                    target.plot(
                        xv,
                        100 * m,
                        marker,
                        ms=4,
                        color=colour[name],
                        mfc="white" if hollow else colour[name],
                    )
        ax.set_title(
            f"regime {regime}: " + ("equal steps" if regime == "steps" else "equal epochs")
        )
        ax.set_xlabel("fraction of the training set")
    cost_ax.set_title("every run against its cost (dots: steps, squares: epochs)")
    cost_ax.set_xlabel("cost (sample-gradient evaluations, PGD steps included)")
    for ax in axes[0]:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel(f"{metric} accuracy %")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
