"""The fraction grid on digits in seconds: the plan, equal steps and equal epochs, cost
accounting, the records' schema, resume, the embedding space, bad options."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clients.train.curve import CurveConfig, Point, plan, run_curve, steps_of
from clients.train.curve import grid as grid_mod
from clients.train.curve.records import curve_key, curve_problem, curve_table
from covering.cli import main

TINY = CurveConfig(
    fractions=(0.1,),
    methods=("mfc", "random", "random_matched", "kcenter", "full"),
    seeds=(0, 1),
    variant_fractions=(0.1,),
    weightings=("sqrt",),
    spaces=("pca",),
    dm_fractions=(),
    autoattack=(),
    full_steps=6,
    batch_size=16,
    attack_steps=1,
    eval_n=40,
    pgd_steps=2,
    attacks=(("linf", 0.1), ("linf", 0.2)),
    pca_dims=8,
    embed_steps=5,
)


def test_plan_order_and_content() -> None:
    pts = plan(TINY)
    assert len(pts) == len(set(pts))
    # covers against stratified random (and full data) come first, seed by seed
    assert pts[:3] == [
        Point("full", 1.0, "steps", 0),
        Point("mfc", 0.1, "steps", 0, weighting="counts"),
        Point("random", 0.1, "steps", 0),
    ]
    assert Point("full", 0.1, "epochs", 1) in pts  # fewer steps on all the data
    assert Point("full", 1.0, "epochs", 0) not in pts  # the same run as full/steps
    assert Point("mfc", 0.1, "epochs", 1, space="pca", weighting="counts") in pts
    assert Point("mfc", 0.1, "steps", 0, weighting="sqrt") in pts
    # 2 seeds x (steps: full, mfc, random; epochs: mfc, random, full) + matched/kcenter x 2
    # regimes + (sqrt, pca) x 2 regimes
    assert len(pts) == 2 * 6 + 2 * 2 * 2 + 2 * 2 * 2


def test_steps_equal_steps_and_equal_epochs() -> None:
    cfg = replace(TINY, full_steps=300)
    n = 60000
    assert steps_of(Point("mfc", 0.05, "steps", 0), 3000, n, cfg) == 300
    assert steps_of(Point("mfc", 0.05, "epochs", 0), 3000, n, cfg) == 15
    assert steps_of(Point("random", 0.01, "epochs", 0), 600, n, cfg) == 3
    assert steps_of(Point("full", 0.2, "epochs", 0), n, n, cfg) == 60
    assert steps_of(Point("full", 1.0, "steps", 0), n, n, cfg) == 300
    assert steps_of(Point("dm", 0.001, "epochs", 0), 10, n, cfg) == 1  # at least one step


#: the grid run in the tests: both seeds, regime steps, one cover variant (a few seconds)
RUN = replace(
    TINY,
    methods=("mfc", "random", "random_matched", "full"),
    regimes=("steps",),
    spaces=(),
    autoattack=(("linf", 0.1),),
    autoattack_n=10,
    autoattack_fractions=(0.1,),
)


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    stem = tmp_path_factory.mktemp("curve") / "digits"
    recs = run_curve("digits", stem, RUN, echo=lambda s: None)
    return stem, recs


def test_grid_records(grid: tuple[Path, list[dict[str, Any]]]) -> None:
    stem, recs = grid
    assert len(recs) == len(plan(RUN)) == 10
    n = 1500  # digits training rows
    for r in recs:
        assert curve_problem(r) is None
        assert r["cost_samples"] == r["steps"] * 16 * 2 + r["select_cost_samples"]
        if r["method"] == "full":
            assert r["n_train"] == n and r["eta"] is None
        else:
            assert r["n_train"] == 150  # stratified total, and the cover's exact size
            assert sum(r["class_counts"]) == 150
        assert r["steps"] == 6  # regime steps: the full run's steps for everyone
        if r["method"] == "mfc":
            assert r["eta"] > 0 and r["cover_radius"] <= r["eta"]
    by = {(r["method"], r["regime"], r["space"], r["weighting"], r["seed"]): r for r in recs}
    # the matched subset has the cover's per-class counts (pixel space)
    assert (
        by[("random_matched", "steps", "pixels", "none", 0)]["class_counts"]
        == by[("mfc", "steps", "pixels", "counts", 0)]["class_counts"]
    )
    # seeds change the random subset and the training, not the cover
    assert (
        by[("mfc", "steps", "pixels", "counts", 0)]["eta"]
        == (by[("mfc", "steps", "pixels", "counts", 1)]["eta"])
    )
    saved = json.loads(stem.with_suffix(".json").read_text())
    assert sorted(map(curve_key, saved)) == sorted(map(curve_key, recs))
    md = stem.with_suffix(".md").read_text()
    assert "| mfc |" in md and "mfc - random" in md and "Recipe" in md
    assert (stem.parent / "digits-linf.png").is_file()


def test_grid_resumes_and_refuses_other_recipes(
    grid: tuple[Path, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stem, recs = grid

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("a finished point ran again")

    monkeypatch.setattr(grid_mod, "run_point", boom)
    assert len(run_curve("digits", stem, RUN, echo=lambda s: None)) == len(recs)
    with pytest.raises(ValueError, match="another recipe"):
        run_curve("digits", stem, replace(RUN, full_steps=7), echo=lambda s: None)


def test_epochs_regime_point(tmp_path: Path) -> None:
    from clients.train.curve import run_point
    from clients.train.data import load_data

    data = load_data("digits")
    rec = run_point(Point("random", 0.1, "epochs", 0), data, TINY, tmp_path / "x")
    assert curve_problem(rec) is None
    assert rec["steps"] == 1 and rec["n_train"] == 150  # round(6 * 150 / 1500)
    assert rec["cost_samples"] == 1 * 16 * 2
    full = run_point(Point("full", 0.5, "epochs", 0), data, TINY, tmp_path / "x")
    assert full["steps"] == 3 and full["n_train"] == 1500  # fewer steps on all the data


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("clean_acc", 10**400, "clean_acc"),  # beyond float range: a problem, not OverflowError
        ("clean_acc", 1.5, "clean_acc"),
        ("robust_acc", {}, "robust_acc"),
        ("robust_acc", {"pgd-linf-0.3": True}, "robust_acc"),
        ("seconds", -1, "seconds"),
        ("fraction", 0, "fraction"),
    ],
)
def test_a_bad_record_is_named(tmp_path: Path, field: str, value: object, says: str) -> None:
    from clients.train.curve import run_point
    from clients.train.data import load_data

    rec = run_point(Point("random", 0.1, "epochs", 0), load_data("digits"), TINY, tmp_path / "x")
    assert curve_problem({**rec, field: value}) is not None
    assert says in (curve_problem({**rec, field: value}) or "")


def test_embedding_space(tmp_path: Path) -> None:
    from clients.train.curve.spaces import space_rows
    from clients.train.data import load_data

    data = load_data("digits")
    Z, facts = space_rows(data, "embedding", TINY, tmp_path)
    assert Z.shape == (1500, 100) and Z.dtype == np.float32 and np.isfinite(Z).all()
    assert 0 <= facts["embedding_test_acc"] <= 1
    assert facts["select_cost_samples"] == 5 * 16
    Z2, _ = space_rows(data, "embedding", TINY, tmp_path)  # from the cache
    assert np.array_equal(Z, Z2)
    P, pf = space_rows(data, "pca", TINY, tmp_path)
    assert P.shape == (1500, 8) and 0 < pf["explained_variance"] <= 1


def test_table_calls_a_difference_real_only_beyond_two_standard_errors() -> None:
    def rec(method: str, seed: int, acc: float) -> dict[str, Any]:
        return {
            "dataset": "d",
            "method": method,
            "fraction": 0.1,
            "seed": seed,
            "regime": "steps",
            "space": "pixels",
            "weighting": "counts" if method == "mfc" else "none",
            "clean_acc": acc,
            "robust_acc": {"pgd-linf-0.3": acc},
            "cost_samples": 1,
        }

    close = [rec("mfc", s, a) for s, a in enumerate((0.50, 0.52, 0.54))] + [
        rec("random", s, a) for s, a in enumerate((0.51, 0.53, 0.55))
    ]
    md = curve_table(close, ("clean",))
    assert "52.0 ± 2.0" in md and "| mfc - random | -1.0 ± 1.6 |" in md
    # every training set but random and full gets a difference row; full never does
    others = close + [rec(m, s, 0.5) for m in ("kcenter", "dm", "full") for s in range(3)]
    md = curve_table(others, ("clean",))
    assert "| kcenter - random | -3.0 ± 1.2 **real** |" in md and "| dm - random |" in md
    assert "full - random" not in md and "random - random" not in md
    far = close[:3] + [rec("random", s, a) for s, a in enumerate((0.40, 0.41, 0.42))]
    assert "+11.0 ± 1.3 **real**" in curve_table(far, ("clean",))
    # near chance on clean accuracy (< 2 / 10 classes): robust accuracy is no evidence
    low = [rec("mfc", s, a) for s, a in enumerate((0.10, 0.11, 0.10))] + [
        rec("random", s, a) for s, a in enumerate((0.01, 0.02, 0.01))
    ]
    for r in low[:3]:
        r["clean_acc"] = 0.1
    md = curve_table(low, ("pgd-linf-0.3",))
    assert (
        "10.3 ± 0.6 †" in md
        and "+9.0 ± 0.5 †" in md
        and "**real**" not in md.split("beyond two")[1]
    )


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--fractions", "0.1,1.5"], "fraction"),
        (["--fractions", "0"], "fraction"),
        (["--methods", "mfc,magic"], "unknown value 'magic'"),
        (["--regimes", "steps,sometimes"], "unknown value"),
        (["--spaces", "hyperbolic"], "unknown value"),
        (["--weightings", "log"], "unknown value"),
        (["--seeds", "a"], "not a valid int"),
        (["--shard", "2/2"], "--shard"),
        (["--budgets", "10"], "--budgets belongs to --grid budgets"),
    ],
)
def test_cli_refuses_bad_options_before_any_work(
    args: list[str], msg: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import clients.train.data as data_mod

    def no_data(*a: Any, **k: Any) -> None:
        raise AssertionError("data loaded before the options were checked")

    monkeypatch.setattr(data_mod, "load_data", no_data)
    code = main(["experiment", "digits", "--grid", "fractions", *args])
    assert code == 2
    assert msg in capsys.readouterr().err


def test_cli_refuses_fraction_options_on_the_budget_grid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["experiment", "digits", "--fractions", "0.1"]) == 2
    assert "--grid fractions" in capsys.readouterr().err


def test_autoattack_pass_order_and_records(
    grid: tuple[Path, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import clients.train.evaluate as ev

    stem, _ = grid
    seen: list[int] = []

    def fake(model: Any, X: Any, y: Any, norm: str, eps: float, **kw: Any) -> float:
        seen.append(int(X.shape[0]))
        return 0.25

    monkeypatch.setattr(ev, "autoattack_available", lambda: True)
    monkeypatch.setattr(ev, "autoattack_accuracy", fake)
    lines: list[str] = []
    recs = grid_mod.autoattack_pass("digits", stem, RUN, shard=(0, 1), echo=lines.append)
    done = [r for r in recs if r["autoattack_acc"]]
    # seed 0, regime steps: the count-weighted cover, random, then full data; not the
    # unweighted or tempered covers, not matched random, not seed 1
    assert sorted((r["method"], r["weighting"]) for r in done) == [
        ("full", "none"),
        ("mfc", "counts"),
        ("random", "none"),
    ]
    assert all(r["autoattack_acc"] == {"aa-linf-0.1": 0.25} and r["seed"] == 0 for r in done)
    assert seen == [10, 10, 10] and [ln.split()[1] for ln in lines] == ["mfc", "random", "full"]
    # a second pass has nothing left to do
    lines.clear()
    grid_mod.autoattack_pass("digits", stem, RUN, echo=lines.append)
    assert lines == []
