"""The fraction grid's tables for the README and the results page, from its records.

    python scripts/curve_headline.py results/mnist-curve.json                 # print them all
    python scripts/curve_headline.py results/mnist-curve.json --update README.md docs/results.md

``--update`` rewrites, in each file, the blocks between ``<!-- curve:NAME -->`` and
``<!-- /curve:NAME -->`` with the table NAME (see ``TABLES``), so every number in them comes
from the records by this command.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clients.train.curve.records import curve_table

Record = dict[str, Any]


def _plain_covers(r: Record) -> bool:
    """Covers in pixel space weighted by counts, stratified random and full data."""
    if r["method"] == "mfc":
        return r["space"] == "pixels" and r["weighting"] == "counts"
    return r["method"] in ("mfc_stratified", "random", "full")


def _variants(r: Record) -> bool:
    return r["method"] in ("mfc", "random") and r["fraction"] in (0.05, 0.2)


def _sampler(r: Record) -> bool:
    """The cover drawn by its counts, weighted by them, and stratified random at 5 % and 20 %."""
    if r["fraction"] not in (0.05, 0.2):
        return False
    if r["method"] == "mfc":
        return r["space"] == "pixels" and r["weighting"] in ("counts", "sampler")
    return r["method"] == "random"


#: name -> (regime, which records, metrics)
TABLES: dict[str, tuple[str, Callable[[Record], bool], tuple[str, ...]]] = {
    "readme": ("steps", _plain_covers, ("pgd-linf-0.3",)),
    "sampler": ("steps", _sampler, ("clean", "pgd-linf-0.3", "pgd-l2-1.5")),
    "headline": ("steps", _plain_covers, ("pgd-linf-0.3", "pgd-l2-1.5", "clean")),
    "steps": ("steps", lambda r: True, ("pgd-linf-0.3", "pgd-l2-1.5", "clean")),
    "variants": ("steps", _variants, ("pgd-linf-0.3", "pgd-l2-1.5", "clean")),
    "epochs": ("epochs", lambda r: True, ("pgd-linf-0.3", "pgd-l2-1.5", "clean")),
}


def autoattack_table(records: list[Record]) -> str:
    """Standard AutoAttack next to PGD-20 for the models that have it (accuracy %)."""
    rows = [r for r in records if r.get("autoattack_acc")]
    if not rows:
        return "(no model has been evaluated with AutoAttack yet)\n"
    names = sorted({k for r in rows for k in r["autoattack_acc"]})
    head = "| model | n train | clean | pgd-linf-0.3 | pgd-l2-1.5 | " + " | ".join(names) + " |"
    out = [head, "|---" * (4 + len(names)) + "|---|"]
    for r in sorted(rows, key=lambda r: (r["fraction"], r["method"])):
        what = f"{r['method']} {100 * r['fraction']:g}% (seed {r['seed']}, {r['regime']})"
        cells = [
            what,
            f"{r['n_train']}",
            f"{100 * r['clean_acc']:.1f}",
            f"{100 * r['robust_acc'].get('pgd-linf-0.3', float('nan')):.1f}",
            f"{100 * r['robust_acc'].get('pgd-l2-1.5', float('nan')):.1f}",
            *(f"{100 * r['autoattack_acc'][k]:.1f}" for k in names),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def render(name: str, records: list[Record]) -> str:
    if name == "autoattack":
        return autoattack_table(records)
    regime, keep, metrics = TABLES[name]
    mine = [r for r in records if r["regime"] == regime and keep(r)]
    return curve_table(mine, metrics)


def update(path: Path, records: list[Record]) -> int:
    """Rewrite the marked blocks of ``path``; the number of blocks rewritten."""
    text = path.read_text()
    pat = re.compile(r"(<!-- curve:(\w+) -->\n)(.*?)(<!-- /curve:\2 -->)", re.S)
    count = 0

    def fill(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return m.group(1) + render(m.group(2), records).rstrip("\n") + "\n" + m.group(4)

    path.write_text(pat.sub(fill, text))
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", type=Path)
    ap.add_argument("--update", nargs="+", type=Path, help="files whose marked blocks to rewrite")
    args = ap.parse_args()
    records = json.loads(args.records.read_text())
    if args.update:
        for p in args.update:
            print(f"{p}: {update(p, records)} table(s) rewritten")
        return
    for name in (*TABLES, "autoattack"):
        print(f"## {name}\n\n{render(name, records)}")


if __name__ == "__main__":
    main()
