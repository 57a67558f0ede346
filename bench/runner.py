"""``covering bench``: the engine and its baselines on the same data, one subprocess per run.

Every run (one method on one dataset) executes in a fresh Python process so that its peak
resident memory (``ru_maxrss``) is its own; the datasets are generated once into a temporary
directory and memory-mapped by every run. Records are JSON objects with exactly the keys of
:data:`RECORD_KEYS`; the Markdown table adds the ratios against the baselines of the same run.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import markdown_table, scaling_plot

__all__ = ["RECORD_KEYS", "Case", "main", "run_case", "run_cases", "suites"]

log = logging.getLogger(__name__)

RECORD_KEYS = (
    "dataset",
    "n",
    "dim",
    "metric",
    "eta",
    "k",
    "method",
    "size",
    "radius",
    "lower_bound",
    "seconds",
    "peak_rss_bytes",
)
#: engine methods and baselines a case may name
METHODS = ("greedy", "auto", "net", "milp_engine", "builder_add", "gpu", "farthest_first", "milp")
#: eta of the synthetic family (keeps about 5% of the rows at every n, see bench/README.md)
MIX_ETA = 2.9
DIGITS_ETA = 1.5
MNIST_ETA = 6.0
#: time limit of the MILP baseline per class (seconds)
MILP_SECONDS = 30.0
#: seconds a single run may take before it is killed (its record then has seconds = inf)
CASE_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Case:
    """One benchmark run.

    Attributes
    ----------
    suite : str
    dataset : {"digits", "mnist", "mix"}
    method : str, one of :data:`METHODS`
    eta : float
    n, dim : int
        For ``mix``: the generated shape; otherwise ignored (0).
    seed : int
    """

    suite: str
    dataset: str
    method: str
    eta: float
    n: int = 0
    dim: int = 0
    seed: int = 0


def suites(quick: bool) -> dict[str, list[Case]]:
    """The benchmark suites (``--quick``: small sizes, < 2 minutes on 2 cores)."""
    ours = ("greedy", "auto", "net")
    if quick:
        return {
            "digits": [
                Case("digits", "digits", m, DIGITS_ETA) for m in (*ours, "farthest_first", "milp")
            ],
            "mix": [
                Case("mix", "mix", m, MIX_ETA, 10_000, 64)
                for m in ("greedy", "net", "farthest_first")
            ],
            "milp": [
                Case("milp", "mix", m, 1.8, 3_000, 16)
                for m in ("greedy", "auto", "farthest_first", "milp")
            ],
            "scaling": [
                Case("scaling", "mix", m, MIX_ETA, n, 64)
                for n in (3_000, 10_000, 30_000)
                for m in ("greedy", "farthest_first")
            ],
            "incremental": [
                Case("incremental", "mix", m, MIX_ETA, 20_000, 64)
                for m in ("greedy", "builder_add")
            ],
        }
    return {
        "digits": [
            Case("digits", "digits", m, DIGITS_ETA) for m in (*ours, "farthest_first", "milp")
        ],
        "mnist": [Case("mnist", "mnist", m, MNIST_ETA) for m in (*ours, "farthest_first")],
        "mix": [Case("mix", "mix", m, MIX_ETA, 10_000, 128) for m in (*ours, "farthest_first")],
        "milp": [Case("milp", "mix", m, 1.8, 3_000, 16) for m in (*ours, "farthest_first", "milp")],
        "scaling": [
            Case("scaling", "mix", m, MIX_ETA, n, 128)
            for n in (10_000, 30_000, 100_000, 300_000, 1_000_000)
            for m in (
                ("greedy", "net", "farthest_first")
                if n <= 100_000
                else ("greedy", "farthest_first")
                if n <= 300_000
                else ("greedy",)
            )
        ],
        "dims": [
            Case("dims", "mix", m, MIX_ETA, 100_000, d)
            for d in (64, 256, 768)
            for m in ("greedy", "farthest_first")
        ],
        "incremental": [
            Case("incremental", "mix", m, MIX_ETA, 100_000, 128) for m in ("greedy", "builder_add")
        ],
        "gpu": [Case("gpu", "mix", "gpu", MIX_ETA, n, 128) for n in (1_000_000, 10_000_000)],
    }


def _peak_rss() -> int:
    """Peak resident set size of this process in bytes (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _record(
    case: Case, n: int, dim: int, size: int, radius: float, lb: int | None, seconds: float
) -> dict[str, Any]:
    return {
        "dataset": case.dataset if case.dataset != "mix" else f"mix{dim}",
        "n": int(n),
        "dim": int(dim),
        "metric": "l2",
        "eta": float(case.eta),
        "k": None,
        "method": case.method,
        "size": int(size),
        "radius": float(radius),
        "lower_bound": None if lb is None else int(lb),
        "seconds": float(seconds),
        "peak_rss_bytes": _peak_rss(),
    }


def _check_baseline(
    X: np.ndarray, y: np.ndarray, centres: np.ndarray, centre_of: np.ndarray, eta: float
) -> float:
    """Validate a baseline's cover exactly; return its radius."""
    from covering.result import CoverError
    from covering.verify import assigned_distances

    if not np.all(np.isin(centre_of, centres)):
        raise CoverError("baseline assigned a row to a non-centre")
    if np.any(y[centre_of] != y):
        raise CoverError("baseline assigned a row to a centre of another label")
    d = assigned_distances(X, centre_of, "l2")
    if not np.all(d <= eta):
        raise CoverError(f"baseline radius {d.max()!r} > eta={eta!r}")
    return float(d.max())


def run_case(case: Case, path: str | None = None) -> dict[str, Any]:
    """Run one case in this process and return its record (the cover is verified).

    Parameters
    ----------
    case : Case
    path : str, optional
        The ``.npy`` of a ``mix`` dataset (written by :func:`bench.data.write_mixture`).
    """
    import covering
    from bench.baselines import farthest_first_cover, milp_baseline
    from bench.data import load_named

    ds = load_named(case.dataset, path)
    X, y = ds.X, ds.y
    eta = case.eta
    if case.method in ("greedy", "auto", "net", "milp_engine", "gpu"):
        method = {"milp_engine": "milp", "gpu": "greedy"}.get(case.method, case.method)
        t0 = time.perf_counter()
        cov = covering.cover(
            X,
            y,
            eta=eta,
            method=method,
            lower_bound=case.method != "greedy",
            backend="gpu" if case.method == "gpu" else "cpu",
        )
        seconds = time.perf_counter() - t0
        return _record(case, ds.n, ds.dim, cov.size, cov.radius, cov.lower_bound, seconds)
    if case.method == "builder_add":
        cut = ds.n - max(1, ds.n // 100)
        base = covering.cover(X[:cut], y[:cut], eta=eta, method="greedy", lower_bound=False)
        builder = covering.CoverBuilder.from_cover(X[:cut], base, y[:cut])
        new_X, new_y = np.asarray(X[cut:]), np.asarray(y[cut:])
        t0 = time.perf_counter()
        builder.add(new_X, new_y)
        seconds = time.perf_counter() - t0
        cov = builder.cover()  # verified against all rows
        return _record(case, ds.n, ds.dim, cov.size, cov.radius, None, seconds)
    if case.method == "farthest_first":
        t0 = time.perf_counter()
        res = farthest_first_cover(X, y, eta, seed=case.seed)
        seconds = time.perf_counter() - t0
    elif case.method == "milp":
        t0 = time.perf_counter()
        got = milp_baseline(X, y, eta, time_limit=MILP_SECONDS)
        seconds = time.perf_counter() - t0
        if got is None:
            raise ValueError("milp baseline: a class is too large for the dense-free MILP")
        res = got
    else:
        raise ValueError(f"unknown bench method {case.method!r}")
    radius = _check_baseline(X, y, res.centres, res.centre_of, eta)
    return _record(case, ds.n, ds.dim, res.centres.shape[0], radius, res.lower_bound, seconds)


def _subprocess(case: Case, path: str | None, timeout: float) -> dict[str, Any] | None:
    """Run ``case`` in a fresh interpreter; its record, or None when it failed."""
    spec = json.dumps({"case": asdict(case), "path": path})
    cmd = [sys.executable, "-m", "bench.runner", spec]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        log.warning("bench %s/%s timed out after %.0fs", case.suite, case.method, timeout)
        return None
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        log.warning("bench %s/%s failed: %s", case.suite, case.method, tail[0])
        return None
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _skip(case: Case) -> str | None:
    """Why ``case`` cannot run here, or None."""
    if case.method == "gpu":
        from covering.gpu import gpu_available

        if not gpu_available():
            return "FAISS sees no GPU"
    if case.dataset == "mnist":
        from covering.data import default_mnist_dir

        if default_mnist_dir() is None:
            return "MNIST files not found"
    return None


def run_cases(
    cases: Iterable[Case], workdir: Path, *, isolate: bool = True, timeout: float = CASE_TIMEOUT
) -> list[dict[str, Any]]:
    """Run cases (generating synthetic data into ``workdir``); records of those that ran.

    Parameters
    ----------
    cases : iterable of Case
    workdir : Path
        Where the memmapped synthetic datasets are written.
    isolate : bool
        One subprocess per case (peak RSS per run). ``False`` runs in this process (tests).
    timeout : float
        Seconds per case (subprocess mode).
    """
    from bench.data import write_mixture

    records: list[dict[str, Any]] = []
    for case in cases:
        why = _skip(case)
        if why is not None:
            log.warning("skipping %s/%s: %s", case.suite, case.method, why)
            continue
        path = None
        if case.dataset == "mix":
            xp, _ = write_mixture(workdir, case.n, case.dim, seed=case.seed)
            path = str(xp)
        rec = _subprocess(case, path, timeout) if isolate else run_case(case, path)
        if rec is None:
            continue
        rec["suite"] = case.suite
        log.info(
            "%s %s n=%d d=%d: size %d in %.2fs",
            case.suite,
            rec["method"],
            rec["n"],
            rec["dim"],
            rec["size"],
            rec["seconds"],
        )
        print(
            f"{case.suite:12s} {rec['dataset']:8s} n={rec['n']:<9d} {rec['method']:15s} "
            f"size={rec['size']:<8d} {rec['seconds']:9.2f}s "
            f"rss={rec['peak_rss_bytes'] / 2**20:8.0f}MiB",
            flush=True,
        )
        records.append(rec)
    return records


def main(
    *,
    quick: bool = False,
    json_out: Path | None = None,
    only: str | None = None,
    methods: str | None = None,
) -> None:
    """Run the suites; print a Markdown table; write JSON (+ ``.md``, ``.png``) when asked.

    Parameters
    ----------
    quick : bool
        The small suite.
    json_out : Path, optional
        Records go here (a JSON list with the keys of :data:`RECORD_KEYS`); the table and the
        scaling plot beside it (same stem, ``.md`` and ``.png``).
    only : str, optional
        Comma-separated suite names.
    methods : str, optional
        Comma-separated method names: only those runs of the chosen suites.

    Raises
    ------
    ValueError
        Unknown suite or method name.
    """
    table = suites(quick)
    names = list(table) if only is None else [s.strip() for s in only.split(",") if s.strip()]
    unknown = [s for s in names if s not in table]
    if unknown:
        raise ValueError(
            f"unknown bench suite(s) {', '.join(unknown)}: expected {', '.join(table)}"
        )
    cases = [c for s in names for c in table[s]]
    if methods is not None:
        want = {m.strip() for m in methods.split(",") if m.strip()}
        known = {c.method for cs in table.values() for c in cs}
        if not want or want - known:
            raise ValueError(
                f"unknown bench method(s) {', '.join(sorted(want - known)) or '-'}:"
                f" expected {', '.join(sorted(known))}"
            )
        cases = [c for c in cases if c.method in want]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="covering-bench-") as tmp:
        raw = run_cases(cases, Path(tmp))
    records = [{k: r[k] for k in RECORD_KEYS} for r in raw]
    md = markdown_table(raw)
    print(md)
    print(f"\nbench: {len(records)} runs in {time.perf_counter() - t0:.1f}s")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        from covering.io import write_bytes_atomic

        write_bytes_atomic(json_out, (json.dumps(records, indent=1) + "\n").encode())
        write_bytes_atomic(json_out.with_suffix(".md"), (md + "\n").encode())
        scaling_plot(raw, json_out.with_suffix(".png"))


def _worker(argv: list[str]) -> int:
    """Subprocess entry: run one case given as JSON, print its record as the last line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spec = json.loads(argv[0])
    case = Case(**spec["case"])
    os.environ.setdefault("PYTHONHASHSEED", "0")
    rec = run_case(case, spec.get("path"))
    print(json.dumps(rec))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(_worker(sys.argv[1:]))
