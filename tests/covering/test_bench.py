"""``covering bench``: records, baselines, data generators and reports on tiny configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import covering
from covering.bench.baselines import farthest_first_cover, milp_baseline
from covering.bench.data import load_named, mixture, write_mixture
from covering.bench.report import fit_slope, markdown_table, ratios, scaling_plot
from covering.bench.runner import RECORD_KEYS, Case, main, run_cases
from covering.verify import assigned_distances

pytestmark = pytest.mark.timeout(60)

KEYS = {
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
}


def _valid(
    X: np.ndarray, y: np.ndarray, centres: np.ndarray, centre_of: np.ndarray, eta: float
) -> None:
    assert np.all(np.isin(centre_of, centres))
    assert np.all(y[centre_of] == y)
    assert np.all(assigned_distances(X, centre_of, "l2") <= eta)


def test_record_keys_are_the_contract() -> None:
    assert set(RECORD_KEYS) == KEYS and len(RECORD_KEYS) == len(KEYS)


def test_runner_records_and_covers(tmp_path: Path) -> None:
    cases = [
        Case("t", "mix", m, 1.8, 3000, 16)
        for m in ("greedy", "net", "farthest_first", "milp", "builder_add")
    ]
    recs = run_cases(cases, tmp_path, isolate=False)
    assert [r["method"] for r in recs] == [c.method for c in cases]
    X, y = mixture(3000, 16).X, mixture(3000, 16).y
    for r in recs:
        assert set(r) - {"suite"} == KEYS
        assert r["n"] == 3000 and r["dim"] == 16 and r["metric"] == "l2" and r["k"] is None
        assert r["dataset"] == "mix16"
        assert 0 < r["size"] < 3000 and r["radius"] <= 1.8
        assert r["seconds"] > 0 and r["peak_rss_bytes"] > 10 * 2**20
    by = {r["method"]: r for r in recs}
    assert by["milp"]["lower_bound"] is not None
    assert by["milp"]["lower_bound"] <= by["milp"]["size"] <= by["greedy"]["size"]
    assert by["greedy"]["size"] <= by["farthest_first"]["size"]
    # the generated file is the same data as the in-memory generator
    xp, _ = write_mixture(tmp_path, 3000, 16)
    ds = load_named("mix", str(xp))
    np.testing.assert_array_equal(np.asarray(ds.X), X)
    np.testing.assert_array_equal(ds.y, y)


@pytest.mark.slow  # a subprocess
def test_runner_subprocess_json(tmp_path: Path) -> None:
    recs = run_cases([Case("t", "mix", "greedy", 2.9, 2000, 8)], tmp_path, isolate=True)
    assert len(recs) == 1 and set(recs[0]) - {"suite"} == KEYS
    json.dumps(recs)  # plain JSON types


def test_baselines_valid_on_digits() -> None:
    ds = load_named("digits")
    X, y = np.asarray(ds.X), ds.y
    ff = farthest_first_cover(X, y, 1.5)
    _valid(X, y, ff.centres, ff.centre_of, 1.5)
    sub = np.flatnonzero(y < 3)
    mi = milp_baseline(X[sub], y[sub], 1.5, time_limit=20)
    assert mi is not None and mi.optimal
    _valid(X[sub], y[sub], mi.centres, mi.centre_of, 1.5)
    ours = covering.cover(X[sub], y[sub], eta=1.5, method="greedy", lower_bound=False)
    assert mi.centres.shape[0] <= ours.size
    assert mi.lower_bound == mi.centres.shape[0]


def test_milp_baseline_skips_large_classes() -> None:
    X = np.zeros((7000, 2), dtype=np.float32)
    assert milp_baseline(X, None, 1.0) is None


def test_mixture_is_seeded_and_fixed_density() -> None:
    a, b = mixture(4000, 32, seed=1), mixture(4000, 32, seed=1)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.dtype == np.float32 and a.X.shape == (4000, 32)
    assert not np.array_equal(a.X, mixture(4000, 32, seed=2).X)
    big = mixture(8000, 32, seed=1)  # more rows = more components of 1,000 rows each
    np.testing.assert_array_equal(big.y, (np.arange(8000) // 1000) % 10)
    assert set(np.unique(mixture(20_000, 8).y)) == set(range(10))
    with pytest.raises(ValueError):
        write_mixture(Path("/tmp"), 0, 4)


def test_reports(tmp_path: Path) -> None:
    recs = [
        {
            "suite": "scaling",
            "dataset": "mix8",
            "n": n,
            "dim": 8,
            "metric": "l2",
            "eta": 1.0,
            "k": None,
            "method": m,
            "size": s,
            "radius": 0.9,
            "lower_bound": None,
            "seconds": t,
            "peak_rss_bytes": 2**27,
        }
        for n, m, s, t in [
            (1000, "greedy", 50, 1.0),
            (10_000, "greedy", 500, 10.0),
            (1000, "farthest_first", 100, 4.0),
            (10_000, "farthest_first", 1000, 400.0),
        ]
    ]
    q = ratios(recs)
    assert q[0]["size_vs_ff"] == pytest.approx(0.5) and q[0]["speedup_vs_ff"] == 4.0
    assert q[1]["speedup_vs_ff"] == pytest.approx(40.0)
    assert fit_slope([1e3, 1e4], [1.0, 10.0]) == pytest.approx(1.0)
    md = markdown_table(recs)
    assert "| scaling | mix8 | 10,000 |" in md and "greedy: 1.00" in md
    assert scaling_plot(recs, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_main_rejects_unknown_suite(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown bench suite"):
        main(quick=True, json_out=tmp_path / "x.json", only="nope")
    with pytest.raises(ValueError, match="unknown bench method"):
        main(quick=True, json_out=tmp_path / "x.json", only="digits", methods="greedy,nope")


def test_main_writes_json_md_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import covering.bench.runner as runner

    tiny = {"scaling": [Case("scaling", "mix", "greedy", 2.9, n, 8) for n in (1000, 2000)]}
    monkeypatch.setattr(runner, "suites", lambda quick: tiny)
    monkeypatch.setattr(runner, "_subprocess", lambda c, p, t: runner.run_case(c, p))
    out = tmp_path / "r" / "bench.json"
    main(quick=True, json_out=out, only=None)
    recs = json.loads(out.read_text())
    assert len(recs) == 2 and all(set(r) == KEYS for r in recs)
    assert out.with_suffix(".md").exists() and out.with_suffix(".png").exists()
    tiny["scaling"].append(Case("scaling", "mix", "farthest_first", 2.9, 1000, 8))
    main(quick=True, json_out=out, only="scaling", methods="farthest_first")
    assert [r["method"] for r in json.loads(out.read_text())] == ["farthest_first"]
