"""CoverBuilder on MNIST in 10 chunks vs a one-shot greedy cover (sizes, seconds).

Usage: python scripts/builder_mnist.py [--eta 6.0]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import covering
from covering.data import load_mnist


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eta", type=float, default=6.0)
    args = ap.parse_args()
    X, y = load_mnist()
    t0 = time.perf_counter()
    b = covering.CoverBuilder(X.shape[1], args.eta)
    for part in np.array_split(np.arange(X.shape[0]), 10):
        b.add(X[part], y[part])
    net = b.cover()
    t_net = time.perf_counter() - t0
    t0 = time.perf_counter()
    refined = b.refine()
    t_ref = time.perf_counter() - t0
    covering.verify(X, refined, y)
    t0 = time.perf_counter()
    plain = covering.cover(X, y, eta=args.eta, method="greedy", lower_bound=False)
    t_plain = time.perf_counter() - t0
    out = {
        "eta": args.eta,
        "net_size": net.size,
        "net_seconds": round(t_net, 1),
        "refined_size": refined.size,
        "refine_seconds": round(t_ref, 1),
        "one_shot_greedy_size": plain.size,
        "one_shot_seconds": round(t_plain, 1),
        "refined_over_one_shot": round(refined.size / plain.size, 4),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
