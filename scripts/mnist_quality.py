"""Per-class quality of the greedy cover on MNIST: size vs the proven LP lower bound.

Usage: python scripts/mnist_quality.py --eta 5.0 --eta 6.0 [--out results/mnist_quality.json]
Prints a Markdown table (class, n, edges, greedy size, lower bound, kind, ratio, seconds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from covering.data import load_mnist
from covering.graph import eta_graph
from covering.solvers.bounds import lower_bound
from covering.solvers.greedy import greedy_cover


def run(eta: float, X: np.ndarray, y: np.ndarray) -> list[dict[str, object]]:
    out = []
    for c in np.unique(y):
        Z = X[y == c].astype(np.float64)
        t0 = time.perf_counter()
        g = eta_graph(Z, eta, "l2")
        st = g.transpose()
        plain = greedy_cover(g, sets=st)
        lb, kind, lp = lower_bound(g, st)
        size = plain.shape[0]
        if lp is not None:
            guided = greedy_cover(g, sets=st, start=np.flatnonzero(lp.x >= 1 - 1e-6), bonus=lp.x)
            size = min(size, guided.shape[0])
        sec = time.perf_counter() - t0
        rec = {
            "eta": eta,
            "class": int(c),
            "n": int(Z.shape[0]),
            "edges": g.n_edges,
            "plain_greedy": int(plain.shape[0]),
            "greedy": int(size),
            "lower_bound": int(lb),
            "bound_kind": kind,
            "ratio": round(size / lb, 4),
            "seconds": round(sec, 2),
        }
        print(json.dumps(rec), flush=True)
        out.append(rec)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eta", type=float, action="append", required=True)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    X, y = load_mnist()
    recs = [r for eta in args.eta for r in run(eta, X, y)]
    print("| eta | class | n | edges | greedy | lower bound | bound | ratio | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in recs:
        print(
            f"| {r['eta']} | {r['class']} | {r['n']} | {r['edges']} | {r['greedy']} | "
            f"{r['lower_bound']} | {r['bound_kind']} | {r['ratio']} | {r['seconds']} |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(recs, indent=1))


if __name__ == "__main__":
    main()
