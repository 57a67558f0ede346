"""``bench.report``: ratios against the baselines, the Markdown table and the scaling plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import fit_slope, markdown_table, ratios, scaling_plot

pytestmark = pytest.mark.timeout(60)


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
