"""The torch backend's eta-graph equals eta_graph's and the canonical distance's, bit for bit.

Runs on CPU tensors (and on CUDA as well when torch sees a GPU); the tests of the error without
torch run whether torch is installed or not.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import covering
import covering.gpu
import covering.graph.build
from covering import torchgraph, torchprune
from covering.graph import Graph, eta_graph
from covering.metrics import exact_distances, prepare
from tests.covering.reference import check_cover

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed ([gpu-torch])")
DEVICES = ["cpu"] + (
    ["cuda"] if HAS_TORCH and importlib.import_module("torch").cuda.is_available() else []
)

pytestmark = pytest.mark.timeout(300)


def _csr(g: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns (sorted within rows) and distances of ``g``'s edges."""
    rows = np.repeat(np.arange(g.n_rows), g.degrees())
    order = np.lexsort((g.indices, rows))
    return rows[order], g.indices[order].astype(np.int64), g.dist[order]


def _canonical_graph(Z: np.ndarray, eta: float, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j) with exact_distances(Z[min], Z[max]) <= eta, sorted (small n only)."""
    n = Z.shape[0]
    i, j = np.triu_indices(n, k=1)
    d = exact_distances(Z[i], Z[j], metric)
    keep = d <= eta
    rows = np.concatenate([i[keep], j[keep], np.arange(n)])
    cols = np.concatenate([j[keep], i[keep], np.arange(n)])
    order = np.lexsort((cols, rows))
    return rows[order], cols[order]


def _check(Z: np.ndarray, eta: float, metric: str, **kw: object) -> Graph:
    """The torch graph has eta_graph's edges, every pair decided by the canonical rule, and
    distances within the bound of the canonical ones (equal to them at exact ties)."""
    got = torchgraph.eta_graph_torch(Z, eta, metric, **kw)  # type: ignore[arg-type]
    ref = eta_graph(Z, eta, metric)
    rg, cg, dg = _csr(got)
    rr, cr, dr = _csr(ref)
    np.testing.assert_array_equal(rg, rr)
    np.testing.assert_array_equal(cg, cr)
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    if Z.shape[0] <= 400:
        rb, cb = _canonical_graph(Z, eta, metric)
        np.testing.assert_array_equal(rg, rb)
        np.testing.assert_array_equal(cg, cb)
    exact = exact_distances(Z[np.minimum(rg, cg)], Z[np.maximum(rg, cg)], metric)
    assert np.all(exact <= eta)
    # decided exactly: the canonical value (self-loops are 0 by convention in every graph,
    # even where the canonical cosine of a row with itself rounds to 2.2e-16)
    tie = (exact == eta) & (rg != cg)
    np.testing.assert_array_equal(dg[tie], exact[tie])
    np.testing.assert_array_equal(dg[rg == cg], 0.0)
    bound = 2e-3 * max(1.0, eta)  # float32 tiles of lattice points: sqrt of a tiny error
    np.testing.assert_allclose(dg, exact, rtol=0, atol=bound)
    np.testing.assert_allclose(dg, dr, rtol=0, atol=bound)
    assert got.symmetric and got.n_cols == Z.shape[0] and got.eta == eta
    return got


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 8 rows and groups of 32, so that small data takes the pruned plan."""
    monkeypatch.setattr(torchprune, "BLOCK_ROWS", 8)
    monkeypatch.setattr(torchgraph, "GROUP_ROWS_PRUNED", (32, 32))
    monkeypatch.setattr(torchgraph, "BLOCK_ROWS", 8)


def _lattice(seed: int, n: int, d: int, power: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.integers(-3, 4, size=(n, d)).astype(np.float64) * 2.0**power + 2.0 ** (power + 5)
    X[n // 2 : n // 2 + n // 5] = X[: n // 5]  # duplicated rows: distance exactly 0
    return X


def _tie_eta(Z: np.ndarray, metric: str, seed: int) -> float:
    """The canonical distance of some pair: at least one pair lies at exactly eta."""
    rng = np.random.default_rng(seed)
    i, j = rng.choice(Z.shape[0], size=2, replace=False)
    d = float(exact_distances(Z[[i]], Z[[j]], metric)[0])
    return d if d > 0 else 1.0


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", ["l2", "linf", "cosine"])
@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("index", ["flat", "ivf"])
def test_lattice_ties_equal_eta_graph(
    device: str, metric: str, precision: str, index: str, small_blocks: None
) -> None:
    X = _lattice(0, 300, 3, -3)
    Z = prepare(X, metric)
    eta = {"l2": 2.0**-2, "linf": 2.0**-3, "cosine": 1e-4}[metric]
    g = _check(Z, eta, metric, device=device, precision=precision, index=index)
    assert g.n_edges > 3 * Z.shape[0]  # the lattice really has neighbours at eta
    _check(Z, _tie_eta(Z, metric, 1), metric, device=device, precision=precision, index=index)


@needs_torch
@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 120),
    d=st.integers(1, 5),
    power=st.integers(-20, 20),
    metric=st.sampled_from(["l2", "linf", "cosine"]),
    precision=st.sampled_from(["float32", "float64"]),
    index=st.sampled_from(["flat", "ivf"]),
    waste=st.sampled_from([1.0, 1.25, 4.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_equal_to_eta_graph(
    n: int, d: int, power: int, metric: str, precision: str, index: str, waste: float, seed: int
) -> None:
    """Lattices scaled by powers of two with duplicated rows, eta at an exact pairwise
    distance, and a permutation of the rows: always the same graph as the canonical rule
    (pruned plans with groups merged more or less freely, as on a GPU or a CPU)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torchprune, "BLOCK_ROWS", 4)
        mp.setattr(torchgraph, "GROUP_ROWS_PRUNED", (16, 16))
        mp.setattr(torchgraph, "GROUP_WASTE", (waste, waste))
        mp.setattr(torchgraph, "BLOCK_ROWS", 4)
        X = _lattice(seed, n, d, power)
        if metric == "cosine":
            X[np.all(X == 0, axis=1)] = 1.0
        Z = prepare(X, metric)
        eta = _tie_eta(Z, metric, seed) if n > 1 else 1.0
        g = _check(Z, eta, metric, precision=precision, index=index, seed=seed)
        perm = np.random.default_rng(seed).permutation(n)
        h = _check(Z[perm], eta, metric, precision=precision, index=index, seed=seed + 1)
        # the permuted rows' graph is the graph with its rows and columns renamed
        r, c, _ = _csr(h)
        moved = Graph(*_from_pairs(perm[r], perm[c], n), n_cols=n, eta=eta)
        np.testing.assert_array_equal(_csr(moved)[1], _csr(g)[1])
        np.testing.assert_array_equal(moved.indptr, g.indptr)


def _from_pairs(r: np.ndarray, c: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.lexsort((c, r))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    return indptr, c[order], np.zeros(c.shape[0])


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("metric", "eta", "n", "index", "most"),
    [
        ("l2", 2.5, 4800, "auto", 0.3),
        ("cosine", 0.03, 4800, "auto", 0.3),
        # FAISS's flat L-inf search is slow: fewer rows, the pruned plan asked for
        ("linf", 0.9, 2400, "ivf", 0.5),
    ],
)
def test_mixture_pruned_and_flat(
    device: str, metric: str, eta: float, n: int, index: str, most: float
) -> None:
    """Clustered rows (above FLAT_MAX for ``auto``): the pruned plan skips most pairs, and the
    graph is the CPU path's and the flat plan's."""
    from bench.data import mixture

    ds = mixture(n, 32, per_component=400)
    Z = prepare(np.asarray(ds.X, dtype=np.float64), metric)
    tiles: list[torchprune.Tile] = []
    g = _check(Z, eta, metric, device=device, index=index, on_tile=tiles.append)
    computed = sum(t.rows * t.cols for t in tiles if t.kind == "dist")
    assert computed < most * n**2 / 2  # the pruned plan ran and skipped most pairs
    flat = torchgraph.eta_graph_torch(Z, eta, metric, device=device, index="flat")
    (rf, cf, df), (rg, cg, dg) = _csr(flat), _csr(g)
    np.testing.assert_array_equal(rf, rg)
    np.testing.assert_array_equal(cf, cg)
    np.testing.assert_allclose(df, dg, rtol=0, atol=1e-5)


@needs_torch
def test_mixture_with_the_gpu_grouping(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU's plan (groups of up to 1,024 rows spanning clusters) on CPU tensors."""
    from bench.data import mixture

    monkeypatch.setattr(torchgraph, "GROUP_ROWS_PRUNED", (1024, 1024))
    monkeypatch.setattr(torchgraph, "GROUP_WASTE", (3.0, 3.0))
    ds = mixture(4800, 32, per_component=400)
    Z = prepare(np.asarray(ds.X, dtype=np.float64), "l2")
    tiles: list[torchprune.Tile] = []
    _check(Z, 2.5, "l2", precision="float64", index="ivf", on_tile=tiles.append)
    dist = [t for t in tiles if t.kind == "dist"]
    assert max(t.rows for t in dist) > 400  # groups span clusters
    assert sum(t.rows * t.cols for t in dist) < 0.8 * 4800**2 / 2  # and still prune


@needs_torch
@pytest.mark.parametrize("index", ["flat", "ivf"])
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_tile_budget_is_respected(index: str, precision: str, small_blocks: None) -> None:
    X = _lattice(3, 400, 4, 0)
    Z = prepare(X, "l2")
    budget = 6000
    tiles: list[torchprune.Tile] = []
    _check(Z, 2.0, "l2", index=index, precision=precision, tile_bytes=budget, on_tile=tiles.append)
    item = 4 if precision == "float32" else 8
    dist = [t for t in tiles if t.kind == "dist"]
    assert len(dist) > 20
    assert all(t.nbytes <= budget for t in tiles)
    assert all(t.rows * t.cols * torchgraph.pair_bytes(item) <= budget for t in dist)
    assert max(t.rows * t.cols for t in tiles) < 400 * 400 // 50  # never n x n
    with pytest.raises(ValueError, match="tile_bytes"):
        torchgraph.eta_graph_torch(Z, 2.0, "l2", index=index, tile_bytes=20)


@needs_torch
def test_edge_cases_and_scoped_tf32() -> None:
    import torch

    g = torchgraph.eta_graph_torch(np.zeros((1, 3)), 1.0, "l2")
    assert g.indices.tolist() == [0] and g.dist.tolist() == [0.0]
    _check(np.ones((9, 4)), 0.5, "l2")  # every column constant
    X = np.zeros((50, 6))
    X[:, 1:3] = np.random.default_rng(0).integers(0, 3, size=(50, 2))
    X[:, 4] = 7.0  # a constant column: dropped from the tiles, never from the exact check
    before = X.copy()
    _check(X, 1.0, "l2")
    np.testing.assert_array_equal(X, before)  # the rows are never modified
    seen: list[bool] = []
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        torchgraph.eta_graph_torch(
            X, 1.0, "l2", on_tile=lambda _t: seen.append(torch.backends.cuda.matmul.allow_tf32)
        )
        assert seen and not any(seen)  # off while tiles are computed
        assert torch.backends.cuda.matmul.allow_tf32  # and restored after
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    calls: list[tuple[int, int]] = []
    torchgraph.eta_graph_torch(X, 1.0, "l2", progress=lambda a, b: calls.append((a, b)))
    assert calls[-1] == (50, 50)
    for bad, match in [
        ({"eta": 0.0}, "eta"),
        ({"eta": float("nan")}, "eta"),
        ({"metric": "l3"}, "unknown metric"),
        ({"index": "hnsw"}, "unknown index"),
        ({"precision": "half"}, "unknown precision"),
        ({"tile_bytes": 0}, "tile_bytes"),
    ]:
        kw: dict[str, object] = {"eta": 1.0, "metric": "l2", **bad}
        with pytest.raises(ValueError, match=match):
            torchgraph.eta_graph_torch(X, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="float64"):
        torchgraph.eta_graph_torch(X.astype(np.float32), 1.0, "l2")


@needs_torch
@pytest.mark.parametrize("metric", ["l2", "linf", "cosine"])
def test_cover_with_torch_backend(metric: str) -> None:
    rng = np.random.default_rng(5)
    X = rng.integers(0, 4, size=(240, 3)).astype(np.float32) + 1.0
    y = rng.integers(0, 3, size=240)
    eta = {"l2": 1.0, "linf": 1.0, "cosine": 0.01}[metric]
    cov = covering.cover(X, y, eta=eta, metric=metric, backend="torch", method="greedy")
    check_cover(X, y, cov, eta, metric)
    assert cov.backend == "torch"
    ref = covering.cover(X, y, eta=eta, metric=metric, backend="cpu", method="auto")
    assert ref.lower_bound is not None
    assert cov.size >= ref.lower_bound  # the same graph: the CPU path's bound holds
    auto = covering.cover(X, y, eta=eta, metric=metric, backend="torch")
    assert (auto.size, auto.lower_bound) == (ref.size, ref.lower_bound)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 1.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 1.0]]), "NaN or inf"),
        (np.zeros((0, 2)), "empty"),
        (np.zeros(3), "2-D"),
        (np.array([["a"]]), "numeric"),
    ],
)
def test_bad_input_as_every_backend(X: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        covering.cover(X, eta=1.0, backend="torch")


def test_without_torch_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(ValueError, match=r"covering\[gpu-torch\]"):
        covering.cover(np.zeros((3, 2)), eta=1.0, backend="torch")
    with pytest.raises(ValueError, match=r"covering\[gpu-torch\]"):
        torchgraph.eta_graph_torch(np.zeros((3, 2)), 1.0, "l2")
    assert not torchgraph.torch_cuda_available()
    monkeypatch.setattr(covering.gpu, "gpu_available", lambda: False)
    assert covering.graph.build.resolve_backend("auto") == "cpu"


def test_auto_chooses_torch_only_without_faiss_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    for faiss_gpu, torch_cuda, want in [
        (True, True, "gpu"),
        (True, False, "gpu"),
        (False, True, "torch"),
        (False, False, "cpu"),
    ]:
        monkeypatch.setattr(covering.gpu, "gpu_available", lambda v=faiss_gpu: v)
        monkeypatch.setattr(torchgraph, "torch_cuda_available", lambda v=torch_cuda: v)
        assert covering.graph.build.resolve_backend("auto") == want
    monkeypatch.undo()
    if not torchgraph.torch_cuda_available() and not covering.gpu.gpu_available():
        assert covering.graph.build.resolve_backend("auto") == "cpu"  # this box: FAISS on the CPU


@pytest.mark.slow  # subprocesses
def test_import_covering_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np, covering\n"
        "assert 'torch' not in sys.modules, 'import covering imported torch'\n"
        "import covering.torchgraph as t\n"
        "assert 'torch' not in sys.modules, 'import covering.torchgraph imported torch'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    cli = (
        "import sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed\n"
        "from covering.cli import main\n"
        f"sys.exit(main(['cover', {str(tmp_path / 'x.npy')!r}, '--eta', '1', "
        f"'--backend', 'torch', '-o', {str(tmp_path / 'c.json')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", cli], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "[gpu-torch]" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c.json").exists()


def test_service_setting_names_the_torch_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("pydantic_settings", reason="the service extra is not installed")
    import service

    monkeypatch.setenv("COVERING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COVERING_BACKEND", "torch")
    assert service.Settings().backend == "torch"
    monkeypatch.setenv("COVERING_BACKEND", "cuda")
    with pytest.raises(ValueError):
        service.Settings()
