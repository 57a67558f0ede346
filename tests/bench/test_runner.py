"""``bench.runner``: records, suites and the JSON/Markdown/plot outputs on tiny configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.data import load_named, mixture, write_mixture
from bench.runner import RECORD_KEYS, Case, main, run_cases

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


def test_main_rejects_unknown_suite(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown bench suite"):
        main(quick=True, json_out=tmp_path / "x.json", only="nope")
    with pytest.raises(ValueError, match="unknown bench method"):
        main(quick=True, json_out=tmp_path / "x.json", only="digits", methods="greedy,nope")


def test_main_writes_json_md_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.runner as runner

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
