"""The GPU benchmark command (bench.gpu), rehearsed at a tiny scale on CPU tensors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from bench import gpu
from bench.data import write_mixture
from bench.gpu_report import markdown, resident_bytes

pytestmark = pytest.mark.timeout(300)
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed ([gpu-torch])"
)


def test_parallel_mixture_is_the_sequential_one(tmp_path: Path) -> None:
    a, ya = write_mixture(tmp_path / "a", 70_000, 8, workers=1)
    b, yb = write_mixture(tmp_path / "b", 70_000, 8, workers=3)
    np.testing.assert_array_equal(np.load(a), np.load(b))
    np.testing.assert_array_equal(np.load(ya), np.load(yb))


@needs_torch
@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_run_one_covers_verifies_and_times(tmp_path: Path, backend: str) -> None:
    xp, _ = write_mixture(tmp_path, 3000, 16, per_component=300)
    spec = {
        "name": "t",
        "dataset": "mix",
        "path": str(xp),
        "eta": 2.9,
        "backend": backend,
        "tile_bytes": 1 << 20,
        "check": backend == "torch",
    }
    import covering.api.core
    from covering import torchgraph

    before = (covering.api.core.solve_radius, torchgraph.eta_graph_torch, torchgraph.TILE_BYTES)
    rec = gpu.run_one(spec)
    # the timers and the tile budget are the run's only
    assert (covering.api.core.solve_radius, torchgraph.eta_graph_torch, torchgraph.TILE_BYTES) == (
        before
    )
    assert rec["verified"] and rec["backend"] == backend and rec["n"] == 3000
    s = rec["seconds"]
    assert s["graph"] > 0 and s["solve"] > 0 and s["verify"] > 0
    assert abs(s["graph"] + s["solve"] + s["other"] - s["cover"]) < 1e-9
    if backend == "torch":
        assert rec["graph_check"]["equal"] and rec["graph_check"]["edges"] > 3000 // 10
        assert rec["tile_bytes"] == 1 << 20


def test_plan_and_markdown() -> None:
    runs = gpu.plan_runs("full", mnist=True)
    assert [r["name"] for r in runs] == [
        "mix-1000000-torch",
        "mix-1000000-cpu",
        "mix-10000000-torch",
        "mnist-torch",
        "mnist-cpu",
    ]
    assert [r["check"] for r in runs] == [True, False, False, True, False]
    assert len(gpu.plan_runs("small", mnist=False)) == 3
    done = {
        "dataset": "mix128",
        "n": 1000,
        "dim": 128,
        "classes": 10,
        "largest_class": 100,
        "eta": 2.9,
        "device": "NVIDIA H200",
        "size": 50,
        "radius": 2.8,
        "verified": True,
        "seconds": {"graph": 0.5, "solve": 1.0, "other": 0.5, "cover": 2.0, "verify": 0.1},
        "peak_rss_bytes": 2**30,
        "tile_bytes": 2**20,
    }
    doc = {
        "machine": {
            "date_utc": "2026-01-01T00:00:00Z",
            "cuda_available": True,
            "gpu": "NVIDIA H200",
            "gpu_memory_bytes": 2**37,
            "cpu_count": 16,
            "platform": "Linux",
            "torch": "2.11",
            "torch_cuda": "13.0",
            "faiss": "1.15.1",
            "numpy": "2",
            "scipy": "1",
            "python": "3.12",
            "tile_bytes": 2**20,
            "scale": "full",
            "budget_seconds": 450,
            "command": "python -m bench.gpu",
            "nvidia_smi": "GPU 0: NVIDIA H200",
        },
        "runs": [
            {**done, "name": "mix-1000-torch", "backend": "torch", "peak_gpu_bytes": 2**20},
            {**done, "name": "mix-1000-cpu", "backend": "cpu", "peak_gpu_bytes": None}
            | {"seconds": {**done["seconds"], "graph": 30.0}},
            {"name": "mix-10000-torch", "skipped": "estimated 900s > 300s left"},
        ],
    }
    md = markdown(doc)
    assert "| mix-10000-torch | skipped: estimated 900s > 300s left |" in md
    assert "graph stage at n = 1,000: torch 0.50 s, CPU path 30.00 s: 60.0x" in md
    assert "target >= 20x: met" in md
    assert "within the tile budget" in md and "Rehearsal" not in md
    assert "GPU 0: NVIDIA H200" in md
    assert resident_bytes(done) == 2 * 100 * 128 * 8 + 64 * 100
    doc["runs"][0]["peak_gpu_bytes"] = 2**20 + resident_bytes(done) + 1
    assert "ABOVE the tile budget" in markdown(doc)


@pytest.mark.slow  # subprocesses
@needs_torch
def test_main_writes_records_and_skips_what_cannot_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(gpu.SCALES, "small", (2000, 20_000))
    monkeypatch.setattr(gpu, "GROWTH", 1e9)  # the larger mixture can never fit
    monkeypatch.setenv("COVERING_MNIST_DIR", str(tmp_path / "none"))
    monkeypatch.setattr("covering.data.default_mnist_dir", lambda: None)
    out = tmp_path / "r" / "gpu.json"
    rc = gpu.main(["--scale", "small", "--out", str(out), "--budget", "600"])
    assert rc == 0
    doc = json.loads(out.read_text())
    names = [r["name"] for r in doc["runs"]]
    assert names == ["mix-2000-torch", "mix-2000-cpu", "mix-20000-torch"]
    assert all(r["verified"] for r in doc["runs"][:2])
    assert doc["runs"][0]["size"] == doc["runs"][1]["size"]  # the same graph, the same greedy
    assert "skipped" in doc["runs"][2]
    assert doc["machine"]["command"].startswith("python -m bench.gpu --scale small")
    md = out.with_suffix(".md").read_text()
    assert "These are not GPU figures" in md or doc["machine"]["cuda_available"]
