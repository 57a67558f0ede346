"""The results of ``covering experiment``: the JSON records (read back and checked, so a run
resumes), the Markdown table and the PNG plots, written next to each other."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "METHODS",
    "check_outputs",
    "load_records",
    "output_paths",
    "output_stem",
    "record_key",
    "table",
    "write_outputs",
]

#: training-set methods, in table order
METHODS = ("mfc", "dm", "kcenter", "random", "full")


def record_key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["dataset"], r["method"], r["budget_per_class"], r["seed"])


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_accs(v: Any) -> bool:
    return isinstance(v, dict) and all(_is_num(a) for a in v.values())


#: what a stored record needs to be resumed (its key) and tabulated, and how to say it
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dataset": (lambda v: isinstance(v, str), "a string"),
    "method": (lambda v: v in METHODS, "one of " + ", ".join(METHODS)),
    "budget_per_class": (lambda v: v is None or _is_int(v), "an integer or null"),
    "seed": (_is_int, "an integer"),
    "n_train": (_is_int, "an integer"),
    "clean_acc": (_is_num, "a number"),
    "robust_acc": (_is_accs, "an object of numbers"),
    "robust_acc_all": (_is_accs, "an object of numbers"),
    "train_seconds": (_is_num, "a number"),
}

_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    return _JSON_TYPES.get(type(v), "a number")


def _record_problem(r: Any) -> str | None:
    """What keeps ``r`` from being a record of :func:`run_one`, or None."""
    if not isinstance(r, dict):
        return f"is {_json_type(r)}, not an object"
    missing = [k for k in _FIELDS if k not in r and k != "robust_acc_all"]
    if missing:
        return "has no " + ", ".join(missing)
    for k, (ok, want) in _FIELDS.items():
        if k in r and not ok(r[k]):
            return f"has {k} = {json.dumps(r[k])[:40]}, expected {want}"
    return None


def load_records(path: Path) -> list[dict[str, Any]]:
    """The records in the results file ``path`` ([] when there is none).

    Raises
    ------
    ValueError
        ``path`` is not valid JSON or not a list of records as :func:`run_one` writes them.
    """
    if not path.exists():
        return []
    fix = "move it away or choose another --out"
    try:
        records = json.loads(path.read_text())
    except ValueError as exc:  # also UnicodeDecodeError
        raise ValueError(f"{path} is not valid JSON ({exc}); {fix}") from None
    what = f"{path} is not a results file of covering experiment"
    if not isinstance(records, list):
        raise ValueError(f"{what}: it holds {_json_type(records)}, not a list of records; {fix}")
    for i, r in enumerate(records):
        problem = _record_problem(r)
        if problem:
            raise ValueError(f"{what}: record {i} {problem}; {fix}")
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
    write_bytes_atomic(json_path, json.dumps(records, indent=1).encode())
    write_bytes_atomic(md_path, table(records).encode())
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
