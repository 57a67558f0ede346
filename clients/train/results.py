"""The results of ``covering experiment``: the JSON records (read back and checked, so a run
resumes), the Markdown table and the PNG plots, written next to each other."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "METHODS",
    "check_outputs",
    "is_accuracies",
    "is_accuracy",
    "is_number",
    "load_records",
    "output_paths",
    "output_stem",
    "recipe",
    "record_key",
    "record_problem",
    "table",
    "write_outputs",
]

#: training-set methods, in table order
METHODS = ("mfc", "dm", "kcenter", "random", "full")


def recipe(config: Any) -> str | None:
    """The recipe of a record's ``config`` as a canonical string (None without one): every
    training and evaluation setting except the seed, which the key holds on its own."""
    if not isinstance(config, dict):
        return None
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True)


def record_key(r: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two records the same run: dataset, method, budget, seed and recipe."""
    return (
        r["dataset"],
        r["method"],
        r["budget_per_class"],
        r["seed"],
        recipe(r.get("config")),
    )


def is_number(v: Any) -> bool:
    """A finite JSON number that a float can hold (the tables format it as one)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond float range
        return False


def is_accuracy(v: Any) -> bool:
    """A number in [0, 1]."""
    return is_number(v) and 0 <= v <= 1


def is_accuracies(v: Any, empty: bool = False) -> bool:
    """An object of attack name -> accuracy, non-empty unless ``empty``."""
    return (
        isinstance(v, dict)
        and (empty or bool(v))
        and all(isinstance(k, str) and is_accuracy(a) for k, a in v.items())
    )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


ACCS = "a non-empty object of accuracies in [0, 1]"

#: what a stored record needs to be resumed (its key) and tabulated, and how to say it
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dataset": (lambda v: isinstance(v, str), "a string"),
    "method": (lambda v: v in METHODS, "one of " + ", ".join(METHODS)),
    "budget_per_class": (lambda v: v is None or _is_int(v), "an integer or null"),
    "seed": (_is_int, "an integer"),
    "n_train": (_is_int, "an integer"),
    "clean_acc": (is_accuracy, "an accuracy in [0, 1]"),
    "robust_acc": (is_accuracies, ACCS),
    "robust_acc_all": (is_accuracies, ACCS),
    "autoattack_acc": (lambda v: is_accuracies(v, empty=True), "an object of accuracies in [0, 1]"),
    "train_seconds": (is_number, "a finite number"),
    "config": (lambda v: isinstance(v, dict), "an object"),
}
#: fields a record may lack
_OPTIONAL = ("robust_acc_all", "autoattack_acc", "config")

_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    return _JSON_TYPES.get(type(v), "a number")


def non_finite(v: Any, where: str = "") -> tuple[str, float] | None:
    """The path (``a.b.0``) and value of the first NaN or infinity in ``v``, or None."""
    if isinstance(v, float) and not math.isfinite(v):
        return where or "the value", v
    items: Any = ()
    if isinstance(v, dict):
        items = v.items()
    elif isinstance(v, list | tuple):
        items = enumerate(v)
    for k, x in items:
        found = non_finite(x, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


def record_problem(r: Any) -> str | None:
    """What keeps ``r`` from being a record of :func:`run_one`, or None."""
    if not isinstance(r, dict):
        return f"is {_json_type(r)}, not an object"
    missing = [k for k in _FIELDS if k not in r and k not in _OPTIONAL]
    if missing:
        return "has no " + ", ".join(missing)
    for k, (ok, want) in _FIELDS.items():
        if k in r and not ok(r[k]):
            return f"has {k} = {json.dumps(r[k])[:40]}, expected {want}"
    bad = non_finite(r)
    if bad:
        return f"has {bad[0]} = {bad[1]}, expected a finite number"
    return None


def _strict_number(s: str) -> float:
    """``parse_float``/``parse_constant`` of :func:`json.loads`: finite numbers only."""
    v = float(s)
    if not math.isfinite(v):
        raise ValueError(f"{s} is not a finite number; JSON has no NaN or infinity")
    return v


def load_records(
    path: Path, problem: Callable[[Any], str | None] | None = None
) -> list[dict[str, Any]]:
    """The records in the results file ``path`` ([] when there is none).

    ``problem`` checks one record (default :func:`record_problem`, the budget grid's).

    Raises
    ------
    ValueError
        ``path`` is not valid JSON or not a list of records as :func:`run_one` writes them.
    """
    check = problem or record_problem
    if not path.exists():
        return []
    fix = "move it away or choose another --out"
    try:
        records = json.loads(
            path.read_text(), parse_float=_strict_number, parse_constant=_strict_number
        )
    except ValueError as exc:  # also UnicodeDecodeError
        raise ValueError(f"{path} is not valid JSON ({exc}); {fix}") from None
    what = f"{path} is not a results file of covering experiment"
    if not isinstance(records, list):
        raise ValueError(f"{what}: it holds {_json_type(records)}, not a list of records; {fix}")
    for i, r in enumerate(records):
        bad = check(r)
        if bad:
            raise ValueError(f"{what}: record {i} {bad}; {fix}")
    return records


def output_stem(out: str | Path) -> Path:
    """The stem of the output files for ``--out`` (a trailing ``.json`` dropped)."""
    stem = Path(out)
    if stem.suffix == ".json":
        stem = stem.with_suffix("")
    if stem.name in ("", ".", ".."):
        raise ValueError(f"--out {str(out)!r} names no file: give a stem such as results/x")
    return stem


def output_paths(stem: Path) -> list[Path]:
    """``<stem>.json``, ``<stem>.md`` and the two plots (see :func:`write_outputs`)."""
    return [stem.with_name(stem.name + s) for s in (".json", ".md", "-robust.png", "-tradeoff.png")]


def check_outputs(stem: Path) -> None:
    """Refuse, before any run, output paths that :func:`write_outputs` could not write."""
    for p in output_paths(stem):
        if len(p.name.encode()) > 255:
            raise ValueError(
                f"cannot write {p.name[:40]}...: the file name is longer than 255 bytes"
            )
        if p.exists() and not p.is_file():
            raise ValueError(
                f"cannot write {p}: it exists and is not a file (choose another --out)"
            )
    parent = stem.parent
    while not parent.exists():  # created by write_outputs
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"cannot create {stem.parent}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write in {parent}: permission denied (choose another --out)")


def write_outputs(records: list[dict[str, Any]], stem: str | Path) -> None:
    """``<stem>.json`` (records), ``<stem>.md`` (table), ``<stem>-robust.png`` (robust accuracy
    vs budget per method) and ``<stem>-tradeoff.png`` (clean vs robust)."""
    from covering.io import write_bytes_atomic

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output_paths(stem)[:2]
    for i, r in enumerate(records):
        bad = non_finite(r)
        if bad:
            raise ValueError(
                f"cannot write {json_path}: record {i} has {bad[0]} = {bad[1]}, and JSON has no "
                "NaN or infinity"
            )
    write_bytes_atomic(json_path, json.dumps(records, indent=1, allow_nan=False).encode())
    write_bytes_atomic(md_path, table(records).encode())
    if records:
        _plots(records, stem)


def _order(r: dict[str, Any]) -> tuple[int, int]:
    return (r["budget_per_class"] or 10**9, METHODS.index(r["method"]))


def table(records: list[dict[str, Any]]) -> str:
    """A Markdown table: one row per record, clean and robust accuracies in %. A ``dataset``
    and a ``seed`` column appear when the records hold more than one of them."""
    names: list[str] = []
    for r in records:
        for k in r.get("robust_acc_all", r["robust_acc"]):
            if k not in names:
                names.append(k)
    by_dataset = len({r["dataset"] for r in records}) > 1
    by_seed = len({r["seed"] for r in records}) > 1
    head = [
        *(["dataset"] if by_dataset else []),
        "method",
        "budget/class",
        *(["seed"] if by_seed else []),
        "n train",
        "clean",
        *names,
        "train s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(records, key=lambda r: (r["dataset"], *_order(r), r["seed"])):
        acc = r.get("robust_acc_all", r["robust_acc"])
        cells = [
            *([r["dataset"]] if by_dataset else []),
            r["method"],
            "all" if r["budget_per_class"] is None else str(r["budget_per_class"]),
            *([str(r["seed"])] if by_seed else []),
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
    if not names:  # nothing to plot: say so rather than leave stale plots
        for suffix in ("-robust.png", "-tradeoff.png"):
            fig, ax = plt.subplots(figsize=(4.5, 2))
            ax.axis("off")
            ax.text(0.5, 0.5, "no robust accuracy in the records", ha="center", va="center")
            fig.savefig(stem.with_name(stem.name + suffix), dpi=110)
            plt.close(fig)
        return
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
