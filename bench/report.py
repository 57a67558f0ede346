"""Benchmark reports: a Markdown table with ratios against the baselines, and a scaling plot."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["fit_slope", "markdown_table", "ratios", "scaling_plot"]

log = logging.getLogger(__name__)

Record = dict[str, Any]
BASELINES = ("farthest_first", "milp")


def _key(r: Record) -> tuple[str, str, int, int, float]:
    return (str(r.get("suite", "")), str(r["dataset"]), int(r["n"]), int(r["dim"]), float(r["eta"]))


def ratios(records: Sequence[Record]) -> list[dict[str, float | None]]:
    """For each record: size and time ratios against the baselines run on the same data (and,
    when records name their ``suite``, in the same suite).

    Returns
    -------
    list of dict, aligned with ``records``, with keys ``size_vs_ff`` (size / farthest-first
    size), ``speedup_vs_ff`` (farthest-first seconds / seconds), ``size_vs_milp``; None where the
    baseline did not run.
    """
    base: dict[tuple[tuple[str, str, int, int, float], str], Record] = {}
    for r in records:
        if r["method"] in BASELINES:
            base[(_key(r), str(r["method"]))] = r
    out: list[dict[str, float | None]] = []
    for r in records:
        ff = base.get((_key(r), "farthest_first"))
        mi = base.get((_key(r), "milp"))
        out.append(
            {
                "size_vs_ff": r["size"] / ff["size"] if ff else None,
                "speedup_vs_ff": ff["seconds"] / r["seconds"] if ff and r["seconds"] > 0 else None,
                "size_vs_milp": r["size"] / mi["size"] if mi else None,
            }
        )
    return out


def fit_slope(n: Sequence[float], seconds: Sequence[float]) -> float | None:
    """Least-squares slope of log(seconds) against log(n); None with fewer than 2 sizes."""
    x = np.log(np.asarray(n, dtype=np.float64))
    y = np.log(np.maximum(np.asarray(seconds, dtype=np.float64), 1e-9))
    if np.unique(x).shape[0] < 2:
        return None
    return float(np.polyfit(x, y, 1)[0])


def _scaling_series(records: Sequence[Record]) -> dict[str, tuple[list[int], list[float]]]:
    series: dict[str, tuple[list[int], list[float]]] = {}
    for r in records:
        if r.get("suite") != "scaling":
            continue
        ns, ts = series.setdefault(str(r["method"]), ([], []))
        ns.append(int(r["n"]))
        ts.append(float(r["seconds"]))
    return series


def _fmt(v: float | None, spec: str) -> str:
    return "" if v is None else format(v, spec)


def markdown_table(records: Sequence[Record]) -> str:
    """A Markdown table of the records, with ratios and the fitted scaling slopes.

    Parameters
    ----------
    records : sequence of dict
        Benchmark records (optionally with a ``suite`` key).
    """
    head = (
        "| suite | dataset | n | dim | eta | method | size | lower bound | seconds | "
        "peak RSS (MiB) | size / FF | speed-up vs FF | size / MILP |"
    )
    lines = [head, "|" + "---|" * 13]
    for r, q in zip(records, ratios(records), strict=True):
        lb = "" if r["lower_bound"] is None else str(r["lower_bound"])
        lines.append(
            f"| {r.get('suite', '')} | {r['dataset']} | {r['n']:,} | {r['dim']} | {r['eta']:g} | "
            f"{r['method']} | {r['size']:,} | {lb} | {r['seconds']:.2f} | "
            f"{r['peak_rss_bytes'] / 2**20:,.0f} | {_fmt(q['size_vs_ff'], '.3f')} | "
            f"{_fmt(q['speedup_vs_ff'], '.1f')} | {_fmt(q['size_vs_milp'], '.3f')} |"
        )
    slopes = []
    for method, (ns, ts) in _scaling_series(records).items():
        s = fit_slope(ns, ts)
        if s is not None:
            slopes.append(f"{method}: {s:.2f} (n = {min(ns):,} .. {max(ns):,})")
    if slopes:
        lines.append("")
        lines.append("Fitted log-log slope of seconds vs n (scaling suite): " + "; ".join(slopes))
    return "\n".join(lines)


def scaling_plot(records: Sequence[Record], path: Path) -> bool:
    """Write a log-log PNG of seconds vs n for the scaling suite; False if nothing to plot."""
    series = _scaling_series(records)
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    for method, (ns, ts) in sorted(series.items()):
        order = np.argsort(ns)
        s = fit_slope(ns, ts)
        label = method if s is None else f"{method} (slope {s:.2f})"
        ax.loglog(np.asarray(ns)[order], np.asarray(ts)[order], "o-", label=label)
    ax.set_xlabel("rows n (synthetic mixture, fixed density)")
    ax.set_ylabel("seconds")
    ax.set_title("covering bench: time vs n")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
