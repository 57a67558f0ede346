"""Sharded covers on a local Ray instance vs one machine: size, time and communication volume.

Usage: python scripts/ray_scaling.py [--rows 20000] [--eta 7] [--shards 1,2,4,8] [--rounds 1,2]
                                     [--cpus 2] [--out bench/results/ray]
Covers the first ``--rows`` MNIST training rows (labels) with ``covering.cover(method="greedy")``
and with ``covering.distributed.cover_shards`` on equal contiguous in-memory shards; writes
OUT.json (one record per run) and OUT.md (the table it prints). Byte counts and sizes are exact;
times depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import ray

import covering
from covering.data import load_mnist
from covering.distributed import comm_stats, cover_shards


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--eta", type=float, default=7.0)
    ap.add_argument("--shards", default="1,2,4,8")
    ap.add_argument("--rounds", default="1,2")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    X, y = load_mnist()
    X, y = X[: args.rows], y[: args.rows]
    ray.init(
        address="local", num_cpus=args.cpus, include_dashboard=False, logging_level=logging.WARNING
    )
    t = time.perf_counter()
    ref = covering.cover(X, y, eta=args.eta, method="greedy", lower_bound=False)
    ref_s = time.perf_counter() - t
    recs = []
    for rounds in (int(r) for r in args.rounds.split(",")):
        for s in (int(v) for v in args.shards.split(",")):
            parts = np.array_split(np.arange(X.shape[0]), s)
            t = time.perf_counter()
            c = cover_shards(
                [X[p] for p in parts], [y[p] for p in parts], eta=args.eta, rounds=rounds
            )
            sec = time.perf_counter() - t
            covering.verify(X, c, y)
            rec = {
                "rows": int(X.shape[0]),
                "eta": args.eta,
                "rounds": rounds,
                "shards": s,
                "size": c.size,
                "single_machine_size": ref.size,
                "single_machine_seconds": round(ref_s, 2),
                "seconds": round(sec, 2),
                **comm_stats(c),
            }
            print(json.dumps(rec), flush=True)
            recs.append(rec)
    ray.shutdown()
    lines = [
        "| rounds | shards | size | seconds | candidates | broadcast (MB) | coverage lists (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in recs:
        lines.append(
            f"| {r['rounds']} | {r['shards']} | {r['size']:,} ({r['size'] / ref.size:.3f}x) | "
            f"{r['seconds']:.1f} | {r['candidates']:,} | {r['broadcast_bytes'] / 1e6:.1f} | "
            f"{r['coverage_bytes'] / 1e6:.2f} |"
        )
    lines.append("")
    lines.append(
        f'Single machine (`covering.cover(X, y, eta={args.eta:g}, method="greedy")`): '
        f"{ref.size:,} centres, {ref_s:.1f} s; {X.shape[0]:,} MNIST rows, {args.cpus} Ray CPUs."
    )
    md = "\n".join(lines)
    print(md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(recs, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(md + "\n")


if __name__ == "__main__":
    main()
