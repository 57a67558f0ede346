"""Records of the paper run: their schema check, and the JSON, Markdown and PNG written from them
(with :func:`clients.train.paper_bundle.write_atomic`: no engine import on the device)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clients.train.paper_bundle import write_atomic
from clients.train.results import is_accuracies, is_accuracy, is_number

__all__ = ["METHODS", "paper_record_problem", "paper_table", "write_paper_outputs"]

#: the methods of the paper run, in table order
METHODS = ("dm", "mfc", "random", "full")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


#: field -> (check, what it must be): the evidence grid's columns plus the run's
_FIELDS: dict[str, tuple[Any, str]] = {
    "dataset": (lambda v: isinstance(v, str), "a string"),
    "method": (lambda v: v in METHODS, "one of " + ", ".join(METHODS)),
    "budget_per_class": (lambda v: v is None or (_int(v) and v > 0), "a positive integer or null"),
    "fraction": (lambda v: is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "n_train": (lambda v: _int(v) and v > 0, "a positive integer"),
    "seed": (_int, "an integer"),
    "regime": (lambda v: v in ("steps", "epochs"), "steps or epochs"),
    "space": (lambda v: v == "pixels", "pixels"),
    "weighting": (lambda v: v in ("counts", "none"), "counts or none"),
    "eta": (lambda v: v is None or (is_number(v) and v >= 0), "a number >= 0 or null"),
    "clean_acc": (is_accuracy, "an accuracy in [0, 1]"),
    "robust_acc": (is_accuracies, "a non-empty object of accuracies in [0, 1]"),
    "autoattack_acc": (lambda v: v is None or is_accuracies(v), "null or an object of accuracies"),
    "cost_samples": (lambda v: _int(v) and v > 0, "a positive integer"),
    "seconds": (lambda v: is_number(v) and v >= 0, "a number of seconds >= 0"),
    "device": (lambda v: isinstance(v, str) and bool(v), "a device name"),
    "recipe": (lambda v: isinstance(v, dict) and _int(v.get("steps")), "the recipe with steps"),
    "config": (lambda v: isinstance(v, dict), "an object"),
}


def paper_record_problem(r: Any) -> str | None:
    """What keeps ``r`` from being a record of the paper run, or None."""
    if not isinstance(r, dict):
        return "is not an object"
    missing = [k for k in _FIELDS if k not in r]
    if missing:
        return "has no " + ", ".join(missing)
    for k, (ok, want) in _FIELDS.items():
        if not ok(r[k]):
            return f"has {k} = {json.dumps(r[k])[:40]}, expected {want}"
    if (r["method"] == "mfc") != (r["eta"] is not None):
        return "has eta set for a non-cover or missing for a cover"
    if r["config"].get("seed") != r["seed"]:
        return "has a config whose seed differs from its seed"
    return None


def _order(r: dict[str, Any]) -> tuple[float, int, int]:
    return (r["fraction"], METHODS.index(r["method"]), r["seed"])


def paper_table(records: list[dict[str, Any]]) -> str:
    """A Markdown table: one row per record, accuracies in %."""
    pgd: list[str] = []
    aa: list[str] = []
    for r in records:
        pgd += [k for k in r["robust_acc"] if k not in pgd]
        aa += [k for k in (r["autoattack_acc"] or {}) if k not in aa]
    head = [
        "method",
        "budget/class",
        "% of train",
        "n",
        "seed",
        "clean",
        *pgd,
        *aa,
        "epochs",
        "train s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(records, key=_order):
        b = r["budget_per_class"]
        cells = [
            r["method"],
            "all" if b is None else str(b),
            f"{100 * r['fraction']:.3g}",
            str(r["n_train"]),
            str(r["seed"]),
            f"{100 * r['clean_acc']:.1f}",
        ]
        cells += [f"{100 * r['robust_acc'][k]:.1f}" if k in r["robust_acc"] else "-" for k in pgd]
        got = r["autoattack_acc"] or {}
        cells += [f"{100 * got[k]:.1f}" if k in got else "not run" for k in aa]
        cells += [f"{r.get('epochs', float('nan')):.3g}", f"{r.get('train_seconds', 0):.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plot(records: list[dict[str, Any]], path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    keys = ["clean"]
    for k in ("pgd-linf-0.3", "aa-linf-0.3", "pgd-l2-1.5", "aa-l2-1.5"):
        if any(k in r["robust_acc"] or k in (r["autoattack_acc"] or {}) for r in records):
            keys.append(k)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.1), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for m in METHODS:
            pts = []
            for r in records:
                if r["method"] != m:
                    continue
                v = (
                    r["clean_acc"]
                    if key == "clean"
                    else {**r["robust_acc"], **(r["autoattack_acc"] or {})}.get(key)
                )
                if v is not None:
                    pts.append((r["n_train"], v))
            if not pts:
                continue
            pts.sort()
            if m == "full":
                for _, v in pts:
                    ax.axhline(v, color="k", ls="--", lw=1, label="full")
            else:
                mk = {"dm": "o", "mfc": "s", "random": "^"}[m]
                ax.plot(*zip(*pts, strict=True), marker=mk, ls="", alpha=0.8, label=m)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(0, 1)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("training points")
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def write_paper_outputs(records: list[dict[str, Any]], stem: str | Path, header: str) -> None:
    """``<stem>.json`` (records), ``<stem>.md`` (``header`` + table) and ``<stem>.png``."""
    stem = Path(stem)
    for i, r in enumerate(records):
        problem = paper_record_problem(r)
        if problem:
            raise ValueError(f"record {i} ({r.get('method')}) {problem}")
    write_atomic(
        stem.with_name(stem.name + ".json"),
        json.dumps(records, indent=1, allow_nan=False).encode(),
    )
    write_atomic(stem.with_name(stem.name + ".md"), (header + "\n" + paper_table(records)).encode())
    if records:
        _plot(records, stem.with_name(stem.name + ".png"))
