"""Ray scale-out: sharded covers on a local Ray instance (2 CPUs), compared with one machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import covering  # noqa: E402
from covering.cli import main  # noqa: E402
from covering.distributed import comm_stats, cover_shards  # noqa: E402

# every test here runs under a local Ray instance (worker processes) started for the module, on
# real MNIST rows when the files are present
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300)]

ETA = 7.0  # MNIST pixels in [0, 1]: ~600 centres for 4,000 rows
N = 4000
SHARDS = 4


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    started = not ray.is_initialized()
    if started:
        # address="local": a private instance even if `ray start` runs on this machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """4,000 MNIST rows (digits when MNIST is absent), float32 (n, d) and int64 labels."""
    try:
        X, y = covering.data.load_mnist()
        return np.ascontiguousarray(X[:N]), y[:N]
    except ValueError:
        X, y = covering.data.load_digits()
        return X, y


@pytest.fixture(scope="module")
def eta(data: tuple[np.ndarray, np.ndarray]) -> float:
    return ETA if data[0].shape[1] == 784 else 1.2


@pytest.fixture(scope="module")
def shard_files(
    tmp_path_factory: pytest.TempPathFactory, data: tuple[np.ndarray, np.ndarray]
) -> tuple[list[str], list[str]]:
    X, y = data
    d = tmp_path_factory.mktemp("shards")
    xs, ys = [], []
    for i, part in enumerate(np.array_split(np.arange(X.shape[0]), SHARDS)):
        np.save(d / f"x{i}.npy", X[part])
        np.save(d / f"y{i}.npy", y[part])
        xs.append(str(d / f"x{i}.npy"))
        ys.append(str(d / f"y{i}.npy"))
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    return xs, ys


def test_sharded_cover_is_valid_and_close_to_single_machine(
    data: tuple[np.ndarray, np.ndarray], eta: float, shard_files: tuple[list[str], list[str]]
) -> None:
    X, y = data
    xs, ys = shard_files
    cov = cover_shards(xs, ys, eta=eta)
    covering.verify(X, cov, y)
    ref = covering.cover(X, y, eta=eta, method="greedy", lower_bound=False)
    assert cov.size <= 1.10 * ref.size, (cov.size, ref.size)
    assert cov.fingerprint == covering.fingerprint(X) == ref.fingerprint
    assert cov.labels_fingerprint == covering.fingerprint(y)
    assert cov.n == X.shape[0] and int(cov.weights.sum()) == X.shape[0]
    assert cov.radius <= eta and cov.method == "ray-greedy"
    # centres come from every shard: indices are global
    assert cov.indices.max() >= 3 * X.shape[0] // 4 and cov.indices.min() < X.shape[0] // 4
    stats = comm_stats(cov)
    assert stats["shards"] == SHARDS
    assert stats["candidates"] >= cov.size
    # the broadcast is the candidates' rows (float32) and labels (int64)
    assert stats["broadcast_bytes"] == stats["candidates"] * (4 * X.shape[1] + 8)
    assert stats["coverage_bytes"] > 0 and stats["coverage_edges"] >= X.shape[0]


def test_one_round_in_memory_unlabelled_cosine(data: tuple[np.ndarray, np.ndarray]) -> None:
    X = data[0][:1500].astype(np.float64)
    parts = np.array_split(X, 3)
    seen: list[tuple[str, int, int]] = []
    cov = cover_shards(
        parts, None, eta=0.25, metric="cosine", rounds=1, seed=1, progress=lambda *a: seen.append(a)
    )
    stages = [s for s, _, _ in seen]
    assert (
        stages.index("local")
        < stages.index("coverage")
        < stages.index("solve")
        < stages.index("assign")
        < stages.index("verify")
    )
    assert ("local", 3, 3) in seen and ("assign", 3, 3) in seen and seen[-1] == ("verify", 1, 1)
    covering.verify(X, cov)
    assert cov.labels is None and cov.labels_fingerprint is None
    assert cov.dtype == "float64" and cov.metric == "cosine"
    ref = covering.cover(X, eta=0.25, metric="cosine", method="greedy", lower_bound=False)
    assert cov.size <= 1.25 * ref.size


def test_one_file_cut_into_row_ranges(
    shard_files: tuple[list[str], list[str]], data: tuple[np.ndarray, np.ndarray], eta: float
) -> None:
    X, y = data
    base = Path(shard_files[0][0]).parent
    cov = cover_shards([base / "X.npy"], [base / "y.npy"], eta=eta, rows_per_shard=1300)
    assert comm_stats(cov)["shards"] == -(-X.shape[0] // 1300)
    covering.verify(X, cov, y)
    with pytest.raises(ValueError, match="rows_per_shard"):
        cover_shards([base / "X.npy"], None, eta=eta, rows_per_shard=0)


class Cancelled(Exception):
    pass


def test_progress_callback_cancels(data: tuple[np.ndarray, np.ndarray], eta: float) -> None:
    def cancel(stage: str, done: int, total: int) -> None:
        if stage == "coverage":
            raise Cancelled

    X, y = data[0][:900], data[1][:900]
    with pytest.raises(Cancelled):
        cover_shards([X[:450], X[450:]], [y[:450], y[450:]], eta=eta, progress=cancel)


def _crash_once(marker: str, stage: str, shard: int) -> Any:
    """A task hook that kills its worker process the first time it runs (stage, shard)."""

    def hook(s: str, i: int) -> None:
        if s == stage and i == shard and not os.path.exists(marker):
            Path(marker).write_text("crashed")
            os._exit(1)  # the worker dies: a system failure Ray retries

    return hook


def test_failed_task_is_retried(
    data: tuple[np.ndarray, np.ndarray], eta: float, tmp_path: Path
) -> None:
    X, y = data[0][:2000], data[1][:2000]
    parts = np.array_split(np.arange(X.shape[0]), 2)
    marker = tmp_path / "crashed"
    cov = cover_shards(
        [X[p] for p in parts],
        [y[p] for p in parts],
        eta=eta,
        on_task=_crash_once(str(marker), "coverage", 1),
        max_retries=2,
    )
    assert marker.read_text() == "crashed"  # the task did die once
    covering.verify(X, cov, y)


def test_failed_task_without_retries_fails(
    data: tuple[np.ndarray, np.ndarray], eta: float, tmp_path: Path
) -> None:
    X, y = data[0][:600], data[1][:600]
    marker = tmp_path / "crashed"
    with pytest.raises(ray.exceptions.RayError):
        cover_shards(
            [X[:300], X[300:]],
            [y[:300], y[300:]],
            eta=eta,
            on_task=_crash_once(str(marker), "local", 0),
            max_retries=0,
        )
    assert marker.exists()


def test_cli_cover_ray_end_to_end(
    shard_files: tuple[list[str], list[str]],
    eta: float,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    xs, ys = shard_files
    out = tmp_path / "cover.json"
    args = ["cover", "--ray", *xs]
    for y in ys:
        args += ["--labels", y]
    rc = main([*args, "--eta", str(eta), "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    manifest = json.loads(out.read_text())
    assert manifest["params"]["method"] == "ray-greedy"
    assert any(n.startswith("ray comm:") for n in manifest["stats"]["notes"])
    base = Path(xs[0]).parent
    rc = main(["verify", str(base / "X.npy"), str(out), "--labels", str(base / "y.npy")])
    assert rc == 0, capsys.readouterr().err


def test_ray_dataset_blocks(data: tuple[np.ndarray, np.ndarray], eta: float) -> None:
    """Anything with ``to_numpy_refs()`` (a Ray Dataset) gives one shard per block."""
    X, y = data[0][:1200], data[1][:1200]

    class Blocks:
        def to_numpy_refs(self) -> list[Any]:
            return [
                ray.put({"emb": X[s : s + 400], "label": y[s : s + 400]})
                for s in range(0, 1200, 400)
            ]

    cov = cover_shards(Blocks(), eta=eta, column="emb", label_column="label", method="net")
    covering.verify(X, cov, y)
    assert cov.method == "ray-net" and comm_stats(cov)["shards"] == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eta": 0.0}, "eta"),
        ({"eta": 1.0, "metric": "l3"}, "metric"),
        ({"eta": 1.0, "rounds": 0}, "rounds"),
        ({"eta": 1.0, "method": "milp"}, "method"),
        ({"eta": 1.0, "rows_per_shard": 0}, "rows_per_shard"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cover_shards([np.zeros((3, 2), np.float32)], None, **kwargs)


def test_bad_shards() -> None:
    a = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="same dtype and width"):
        cover_shards([a, np.zeros((4, 2), np.float32)], None, eta=1.0)
    with pytest.raises(ValueError, match="same dtype and width"):
        cover_shards([a, a.astype(np.float64)], None, eta=1.0)
    with pytest.raises(ValueError, match="label shard"):
        cover_shards([a, a], [np.zeros(4, np.int64)], eta=1.0)
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        cover_shards([a], [np.zeros(3, np.int64)], eta=1.0)
    with pytest.raises(ValueError, match="integers"):
        cover_shards([a], [np.zeros(4)], eta=1.0)
    with pytest.raises(ValueError, match="2-D"):
        cover_shards([np.zeros(4, np.float32)], None, eta=1.0)
    with pytest.raises(ValueError, match="no such file"):
        cover_shards(["/nonexistent/x.npy"], None, eta=1.0)
    with pytest.raises(ValueError, match="NaN"):
        cover_shards([np.full((4, 3), np.nan, np.float32)], None, eta=1.0)


def test_engine_and_cli_without_ray(
    shard_files: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    """``import covering`` never imports Ray; ``cover --ray`` without Ray is a one-line error."""
    code = (
        "import sys\n"
        "sys.modules['ray'] = None  # as if Ray were not installed\n"
        "import covering\n"
        "assert covering.cover is not None\n"
        "from covering.cli import main\n"
        f"sys.exit(main(['cover', '--ray', {shard_files[0][0]!r}, '--eta', '1', "
        f"'-o', {str(tmp_path / 'c.json')!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "[ray]" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c.json").exists()
    out = subprocess.run(
        [sys.executable, "-c", "import sys, covering; sys.exit(int('ray' in sys.modules))"],
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, "import covering must not import ray"
