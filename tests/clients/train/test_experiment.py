from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from clients.train import experiment
from clients.train.experiment import grid_config, run_experiment

TINY = replace(
    grid_config(quick=True),
    budgets=(3,),
    subset_steps=2,
    full_steps=2,
    batch_size=32,
    attack_steps=1,
    eval_n=30,
    pgd_steps=1,
    attacks=(("linf", 0.1),),
    autoattack=(("linf", 0.1),),
    autoattack_n=10,
    autoattack_version="custom",
    dm_iterations=2,
    dm_width=8,
    bound_n=30,
)


def test_grid_writes_records_table_plots_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(experiment, "autoattack_available", lambda: False, raising=False)
    cfg = replace(TINY, autoattack=())
    stem = tmp_path / "digits"
    recs = run_experiment("digits", stem, cfg=cfg, echo=lambda s: None)
    assert {r["method"] for r in recs} == {"mfc", "dm", "kcenter", "random", "full"}
    for r in recs:
        for key in (
            "dataset",
            "method",
            "budget_per_class",
            "clean_acc",
            "robust_acc",
            "seed",
            "seconds",
        ):
            assert key in r
        assert "pgd-linf-0.1" in r["robust_acc"]
    assert next(r for r in recs if r["method"] == "full")["n_train"] == 1500
    saved = json.loads(stem.with_suffix(".json").read_text())
    assert [(r["method"], r["clean_acc"]) for r in saved] == [
        (r["method"], r["clean_acc"]) for r in recs
    ]
    assert "| mfc | 3 |" in stem.with_suffix(".md").read_text()
    assert (tmp_path / "digits-robust.png").is_file()
    assert (tmp_path / "digits-tradeoff.png").is_file()

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("should have resumed")

    monkeypatch.setattr(experiment, "run_one", boom)
    assert len(run_experiment("digits", stem, cfg=cfg, echo=lambda s: None)) == len(recs)


def test_autoattack_in_records(tmp_path: Path) -> None:
    pytest.importorskip("pyautoattack", reason="extra [eval]")
    cfg = replace(TINY, methods=("random",), autoattack_n=30)
    recs = run_experiment("digits", tmp_path / "aa", cfg=cfg, echo=lambda s: None)
    assert "aa-linf-0.1" in recs[0]["autoattack_acc"]
    assert recs[0]["autoattack_acc"]["aa-linf-0.1"] <= recs[0]["clean_acc"]


def test_full_grid_uses_standard_autoattack_on_1000_images() -> None:
    cfg = grid_config(quick=False)
    assert cfg.autoattack_version == "standard" and cfg.autoattack_n >= 1000
    assert set(cfg.autoattack) == {("linf", 0.3), ("l2", 1.5)}
    quick = grid_config(quick=True)  # minutes on 2 cores: the reduced AutoAttack
    assert quick.autoattack_version == "custom" and quick.autoattack_targets == 3
