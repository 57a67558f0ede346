"""``python -m bench.gpu``: the torch backend on a GPU box, measured in one command.

Generates the seeded mixtures of the CPU scaling suite on the machine itself
(:func:`bench.data.write_mixture`: 128 dimensions, 10 classes, ``eta = 2.9`` keeps
about 5% of the rows), covers them with ``backend="torch"``, verifies every cover exactly
(:func:`covering.verify`), times the same 10^6 case on the CPU path (FAISS) in the same run,
and MNIST-train at ``eta = 6`` when ``COVERING_MNIST_DIR`` (or ``shared/data/mnist``) holds the
IDX files. Every run is a subprocess (its own peak RSS and peak GPU memory) under one
wall-clock budget: a run whose estimate does not fit is skipped and the record says why.

Records (JSON, and Markdown beside it) hold the machine (``nvidia-smi``, torch and CUDA
versions), seconds per stage (``graph`` and ``solve`` summed over the classes from timers
around the graph builders and the per-class solver, ``cover`` end to end, ``verify`` the
separate exact check), the peak GPU memory (``torch.cuda.max_memory_allocated``) against
the tile budget, and peak RSS. ``--scale small`` (10^4 and 10^5 rows) rehearses the whole
command on a CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SCALES", "main", "plan_runs", "run_one"]

#: rows of the mixtures per scale: (the CPU comparison's n, the larger torch-only n)
SCALES = {"full": (1_000_000, 10_000_000), "small": (10_000, 100_000)}
DIM = 128
MIX_ETA = 2.9
MNIST_ETA = 6.0
#: the larger run (10x the rows) is skipped when even this multiple of the smaller one's wall
#: time (linear growth; the CPU suite's fitted slope is 1.1 to 1.24) exceeds the time left;
#: otherwise it runs until the budget ends (its stderr logs each class as it finishes)
GROWTH = 10.0
#: seconds kept back from the budget for writing the records
MARGIN = 15.0
#: the CPU comparison may use at most this share of the budget
CPU_SHARE = 0.3
#: no run starts with less time than this left
MIN_SECONDS = 20.0


def _log_classes(name: str) -> Any:
    """A progress callback that logs each finished class on stderr (a run stopped by the
    budget still says how far it got)."""
    t0 = time.perf_counter()

    def tick(stage: str, done: int, total: int) -> None:
        if stage == "solve":
            dt = time.perf_counter() - t0
            print(f"{name}: {done}/{total} rows in {dt:.1f}s", file=sys.stderr, flush=True)

    return tick


@contextlib.contextmanager
def _instrumented(tile_bytes: int) -> Iterator[dict[str, float]]:
    """For the duration: the torch backend's tile budget set to ``tile_bytes``, and the
    engine's per-class solve and both graph builders wrapped with timers, whose running sums
    it yields (``class``: a class's graph and solve; ``graph``). Restored afterwards."""
    from covering import torchgraph
    from covering.api import core
    from covering.graph import build

    sums: dict[str, float] = defaultdict(float)

    def timed(key: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                sums[key] += time.perf_counter() - t

        return wrapper

    saved = (core.solve_radius, build.eta_graph, torchgraph.eta_graph_torch, torchgraph.TILE_BYTES)
    core.solve_radius = timed("class", core.solve_radius)
    build.eta_graph = timed("graph", build.eta_graph)
    torchgraph.eta_graph_torch = timed("graph", torchgraph.eta_graph_torch)
    torchgraph.TILE_BYTES = tile_bytes  # eta_graph_torch's default budget
    try:
        yield sums
    finally:
        core.solve_radius, build.eta_graph, torchgraph.eta_graph_torch = saved[:3]
        torchgraph.TILE_BYTES = saved[3]


def _gpu_peak() -> tuple[int | None, str]:
    """(peak bytes allocated by torch on the current CUDA device, device description)."""
    if "torch" not in sys.modules:
        return None, "cpu"
    import torch

    if not torch.cuda.is_available():
        return None, "cpu"
    return int(torch.cuda.max_memory_allocated()), torch.cuda.get_device_name(0)


def _load(spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    if spec["dataset"] == "mnist":
        from covering.data import load_mnist

        return load_mnist()
    X = np.load(spec["path"], mmap_mode="r", allow_pickle=False)
    y = np.load(spec["path"][: -len(".npy")] + ".labels.npy", allow_pickle=False)
    return X, y


def _graph_check(X: np.ndarray, y: np.ndarray, eta: float, tile_bytes: int) -> dict[str, Any]:
    """The torch graph of the first class against :func:`covering.graph.eta_graph` (CSR after
    sorting columns within rows), with both timings."""
    from covering.graph import eta_graph
    from covering.metrics import prepare
    from covering.torchgraph import eta_graph_torch

    Z = prepare(np.asarray(X[y == y.min()]), "l2")
    t0 = time.perf_counter()
    g = eta_graph_torch(Z, eta, "l2", tile_bytes=tile_bytes)
    t1 = time.perf_counter()
    h = eta_graph(Z, eta, "l2")
    t2 = time.perf_counter()

    def csr(a: Any) -> tuple[np.ndarray, np.ndarray]:
        rows = np.repeat(np.arange(a.n_rows), a.degrees())
        order = np.lexsort((a.indices, rows))
        return a.indptr, a.indices[order].astype(np.int64)

    (pg, cg), (ph, ch) = csr(g), csr(h)
    return {
        "rows": int(Z.shape[0]),
        "edges": int(g.n_edges),
        "equal": bool(np.array_equal(pg, ph) and np.array_equal(cg, ch)),
        "torch_seconds": t1 - t0,
        "cpu_seconds": t2 - t1,
    }


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case in this process: cover, verify, measure; return its record.

    ``spec``: ``name``, ``dataset`` (``"mix"`` with ``path``, or ``"mnist"``), ``eta``,
    ``backend`` (``"torch"`` or ``"cpu"``), ``tile_bytes``, ``check`` (compare the first
    class's graph with the CPU path's)."""
    import covering
    from covering import torchgraph

    X, y = _load(spec)
    eta, backend = float(spec["eta"]), spec["backend"]
    t_up = time.perf_counter()
    if backend == "torch":  # torch's import and CUDA's start are not the graph's time
        torch = torchgraph.import_torch()
        if torch.cuda.is_available():
            torch.zeros(1, device="cuda")
            torch.cuda.synchronize()
    startup = time.perf_counter() - t_up
    with _instrumented(int(spec["tile_bytes"])) as sums:
        t0 = time.perf_counter()
        cov = covering.cover(
            X,
            y,
            eta=eta,
            method="greedy",
            lower_bound=False,
            backend=backend,
            progress=_log_classes(spec["name"]),
        )
        t1 = time.perf_counter()
    covering.verify(X, cov, y)
    t2 = time.perf_counter()
    peak_gpu, device = _gpu_peak()
    cover_s = t1 - t0
    seconds = {
        "graph": sums["graph"],
        "solve": sums["class"] - sums["graph"],
        "other": cover_s - sums["class"],
        "cover": cover_s,
        "verify": t2 - t1,
        "startup": startup,
    }
    rec: dict[str, Any] = {
        "name": spec["name"],
        "dataset": spec["dataset"] if spec["dataset"] == "mnist" else f"mix{X.shape[1]}",
        "n": int(X.shape[0]),
        "dim": int(X.shape[1]),
        "classes": int(np.unique(y).shape[0]),
        "largest_class": int(np.bincount(y - y.min()).max()),
        "eta": eta,
        "backend": cov.backend,
        "device": device if cov.backend == "torch" else f"cpu ({os.cpu_count()} cores)",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "method": cov.method,
        "size": int(cov.size),
        "radius": float(cov.radius),
        "verified": True,  # covering.verify raised otherwise
        "seconds": seconds,
        "peak_rss_bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024,
        "peak_gpu_bytes": peak_gpu,
        "tile_bytes": int(spec["tile_bytes"]) if backend == "torch" else None,
    }
    if spec.get("check"):
        rec["graph_check"] = _graph_check(X, y, eta, int(spec["tile_bytes"]))
    return rec


def _subprocess(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """:func:`run_one` in a fresh interpreter; a record with ``error`` when it failed."""
    cmd = [sys.executable, "-m", "bench.gpu", "--worker", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, text=True, timeout=max(1.0, timeout), check=False
        )
    except subprocess.TimeoutExpired:
        return {"name": spec["name"], "error": f"stopped after {timeout:.0f}s (the budget)"}
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"name": spec["name"], "error": f"exit code {proc.returncode} (stderr above)"}
    rec = dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    rec["wall_seconds"] = time.perf_counter() - t0
    return rec


def machine(tile_bytes: int) -> dict[str, Any]:
    """What the records were measured on."""
    import faiss
    import scipy

    import covering

    info: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "covering": covering.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "faiss": faiss.__version__,
        "tile_bytes": tile_bytes,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.version.cuda
        info["cuda_available"] = bool(torch.cuda.is_available())
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            info["gpu"] = p.name
            info["gpu_memory_bytes"] = int(p.total_memory)
    except ImportError:
        info["torch"] = None
    try:
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30)
        info["nvidia_smi"] = smi.stdout if smi.returncode == 0 else f"failed: {smi.stderr}"
    except (OSError, subprocess.SubprocessError) as exc:
        info["nvidia_smi"] = f"not available: {exc}"
    return info


def plan_runs(scale: str, mnist: bool) -> list[dict[str, Any]]:
    """The runs of a scale, in order (the larger mixture only after the smaller one)."""
    small, large = SCALES[scale]
    runs: list[dict[str, Any]] = [
        {"name": f"mix-{small}-torch", "dataset": "mix", "n": small, "backend": "torch"},
        {"name": f"mix-{small}-cpu", "dataset": "mix", "n": small, "backend": "cpu"},
        {"name": f"mix-{large}-torch", "dataset": "mix", "n": large, "backend": "torch"},
    ]
    if mnist:
        runs += [
            {"name": "mnist-torch", "dataset": "mnist", "n": 60_000, "backend": "torch"},
            {"name": "mnist-cpu", "dataset": "mnist", "n": 60_000, "backend": "cpu"},
        ]
    for r in runs:
        r["eta"] = MNIST_ETA if r["dataset"] == "mnist" else MIX_ETA
        r["check"] = r["backend"] == "torch" and r["n"] <= small
    return runs


def _write(out: Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    from bench.gpu_report import markdown
    from covering.io import write_bytes_atomic

    doc = {"machine": meta, "runs": records}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, (json.dumps(doc, indent=1) + "\n").encode())
    write_bytes_atomic(out.with_suffix(".md"), markdown(doc).encode())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring); 0 when every run that ran verified."""
    ap = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__)
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--out", type=Path, default=Path("bench/results/gpu-h200.json"))
    ap.add_argument("--budget", type=float, default=450.0, help="wall-clock seconds in all")
    ap.add_argument("--workdir", type=Path, default=None, help="where the mixtures go")
    ap.add_argument("--tile-bytes", type=int, default=None, help="torch tile budget (bytes)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    if args.worker is not None:
        print(json.dumps(run_one(json.loads(args.worker))), flush=True)
        return 0
    from bench.data import write_mixture
    from covering.data import default_mnist_dir
    from covering.torchgraph import TILE_BYTES

    t_start = time.perf_counter()
    tile_bytes = int(args.tile_bytes or TILE_BYTES)
    meta = machine(tile_bytes)
    meta.update(
        scale=args.scale,
        budget_seconds=args.budget,
        command=f"python -m bench.gpu {shown}",
    )
    records: list[dict[str, Any]] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="covering-gpu-", dir=args.workdir) as tmp:
        walls: dict[tuple[int, str], float] = {}
        for run in plan_runs(args.scale, default_mnist_dir() is not None):
            left = args.budget - MARGIN - (time.perf_counter() - t_start)
            estimate = MIN_SECONDS
            if run["dataset"] == "mix" and run["n"] > SCALES[args.scale][0]:
                base = walls.get((SCALES[args.scale][0], run["backend"]))
                estimate = GROWTH * base if base is not None else float("inf")
            if estimate > left:
                why = f"estimated {estimate:.0f}s > {left:.0f}s left of the budget"
                records.append({"name": run["name"], "skipped": why})
                print(f"{run['name']}: skipped ({why})", flush=True)
                continue
            timeout = left if run["backend"] == "torch" else min(left, CPU_SHARE * args.budget)
            spec = {**run, "tile_bytes": tile_bytes}
            if run["dataset"] == "mix":
                t0 = time.perf_counter()
                xp, _ = write_mixture(Path(tmp), run["n"], DIM, workers=os.cpu_count() or 1)
                spec["path"] = str(xp)
                gen = time.perf_counter() - t0
                timeout -= gen
            rec = _subprocess(spec, timeout)
            if run["dataset"] == "mix":
                rec["generate_seconds"] = gen
            if "error" in rec:
                ok = False
            else:
                walls[(run["n"], run["backend"])] = float(rec["wall_seconds"])
            records.append(rec)
            print(json.dumps(rec), flush=True)
            meta["elapsed_seconds"] = time.perf_counter() - t_start
            _write(args.out, meta, records)
    meta["elapsed_seconds"] = time.perf_counter() - t_start
    _write(args.out, meta, records)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover - run as a script
    sys.exit(main())
