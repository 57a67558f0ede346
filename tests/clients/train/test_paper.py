"""The paper run: its bundle, its rehearsal on digits without the engine's dependencies, its
records and its one recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clients.train.paper import Recipe, size_steps
from clients.train.paper_bundle import fraction_budget, load_bundle
from clients.train.paper_report import paper_record_problem

ROOT = Path(__file__).resolve().parents[3]

#: the device has no FAISS, highspy, pydantic: the run must not need them (nor the engine)
BLOCK = ("faiss", "highspy", "pydantic", "covering")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clients.train.paper_prep import prepare_bundle

    d = tmp_path_factory.mktemp("bundle")
    prepare_bundle(
        d,
        dataset="digits",
        budgets=(2,),
        fractions=(0.1,),
        dm_iterations=2,
        dm_changes={"width": 8, "batch_real": 8},
        echo=lambda _: None,
    )
    return d


@pytest.fixture(scope="module")
def dry_run(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rehearsal, in a fresh interpreter in which the engine's dependencies cannot be
    imported, with DM learnt in the run (as on the device)."""
    out = tmp_path_factory.mktemp("run") / "digits-gpu"
    code = (
        "import sys\n"
        f"for m in {BLOCK!r}: sys.modules[m] = None\n"
        "from clients.train.paper_cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    # a budget that cannot run out: every set is trained and attacked, however loaded the machine
    args = ["run", str(bundle), "--out", str(out), "--dry-run", "--steps", "3", "--budget", "1e5"]
    args += ["--dm-iterations", "2", "--dm-width", "8", "--dm-batch-real", "8"]
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{bundle / 'site'}",
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.slow
def test_bundle_holds_verified_sets(bundle: Path) -> None:
    b = load_bundle(bundle)
    names = {s.name for s in b.sets}
    assert names == {
        "full-s0", "random-b2-s0", "mfc-b2-s0", "random-f0.1-s0", "mfc-f0.1-s0", "dm-b2-s0",
    }  # fmt: skip
    by = {s.name: s for s in b.sets}
    per = fraction_budget(0.1, len(b.y_train), b.n_classes)
    assert by["mfc-f0.1-s0"].size == per * b.n_classes == by["random-f0.1-s0"].size
    for name in ("mfc-b2-s0", "mfc-f0.1-s0"):
        s = by[name]
        assert s.weighting == "counts" and s.weights.sum() == len(b.y_train)
        assert s.eta is not None and s.info["verified"] is True
    assert by["dm-b2-s0"].X.shape == (20, 64) and by["dm-b2-s0"].eta is None
    assert (bundle / "site" / "pyautoattack" / "autoattack.py").is_file()
    assert not (bundle / "site" / "pyautoattack" / "examples").exists()


@pytest.mark.slow
def test_bundle_refuses_changed_files(bundle: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    data = np.load(copy / "sets.npz")
    arrays = {k: data[k] for k in data.files}
    arrays["random-b2-s0.indices"] = arrays["random-b2-s0.indices"][::-1].copy()
    np.savez(copy / "sets.npz", **arrays)
    with pytest.raises(ValueError, match="sha256"):
        load_bundle(copy)


@pytest.mark.slow
def test_dry_run_writes_valid_records(dry_run: Path) -> None:
    records = json.loads(dry_run.with_name(dry_run.name + ".json").read_text())
    assert [paper_record_problem(r) for r in records] == [None] * len(records)
    assert {r["method"] for r in records} == {"dm", "mfc", "random", "full"}
    assert len(records) == 6
    for r in records:
        assert r["steps"] == 3 and r["regime"] == "steps" and r["space"] == "pixels"
        assert r["cost_samples"] == 3 * min(64, r["n_train"]) * 41  # PGD-40 + the update
        assert set(r["robust_acc"]) >= {"pgd-linf-0.3", "pgd-l2-1.5"}
    dm = next(r for r in records if r["method"] == "dm")
    assert dm["set"]["dm_iterations"] == 2 and dm["set"]["dm"]["width"] == 8
    for r in records:
        assert set(r["autoattack_acc"]) == {"aa-linf-0.3", "aa-l2-1.5"}, r["autoattack_note"]
        assert r["autoattack_note"] == "standard AutoAttack on 40 test images"
    md = dry_run.with_name(dry_run.name + ".md").read_text()
    assert "| method |" in md and "Recipe (the same for every method)" in md
    assert dry_run.with_name(dry_run.name + ".png").stat().st_size > 1000


@pytest.mark.slow
def test_one_recipe_for_every_method(dry_run: Path) -> None:
    records = json.loads(dry_run.with_name(dry_run.name + ".json").read_text())
    recipes = {json.dumps(r["recipe"], sort_keys=True) for r in records}
    configs = {
        json.dumps({k: v for k, v in r["config"].items() if k != "seed"}, sort_keys=True)
        for r in records
    }
    assert len(recipes) == 1 and len(configs) == 1
    assert json.loads(recipes.pop())["attack_steps"] == 40


@pytest.mark.slow
def test_dm_sets_of_a_run_export_with_fingerprints(dry_run: Path, tmp_path: Path) -> None:
    from clients.train.baselines.dm import load_dm_set
    from clients.train.paper_cli import main

    sets = dry_run.with_name(dry_run.name + "-dm-sets.npz")
    rec = dry_run.with_name(dry_run.name + ".json")
    assert main(["export-dm", str(sets), str(rec), "--to", str(tmp_path)]) == 0
    X, _, meta = load_dm_set(tmp_path / "digits-dm-b2-s0.json")
    assert X.shape == (20, 64) and meta["dm_iterations"] == 2


def test_size_steps_fits_the_time() -> None:
    r = Recipe(min_steps=10, max_steps=1000)
    assert size_steps(100.0, 10, 0.05, r) == 200  # 10 runs x 200 steps x 50 ms = 100 s
    assert size_steps(1.0, 10, 0.05, r) == 10
    assert size_steps(1e6, 10, 0.05, r) == 1000


def _good_record() -> dict[str, object]:
    return {
        "dataset": "mnist", "method": "mfc", "budget_per_class": 10, "fraction": 0.5,
        "n_train": 100, "seed": 0, "regime": "steps", "space": "pixels", "weighting": "counts",
        "eta": 1.0, "clean_acc": 0.9, "robust_acc": {"pgd-linf-0.3": 0.5},
        "autoattack_acc": None, "cost_samples": 10, "seconds": 1.0, "device": "H200",
        "recipe": {"steps": 3}, "config": {"steps": 3, "seed": 0},
    }  # fmt: skip


def test_record_problems_are_named() -> None:
    good = _good_record()
    assert paper_record_problem(good) is None
    assert "has no" in str(paper_record_problem({k: v for k, v in good.items() if k != "eta"}))
    assert "eta" in str(paper_record_problem({**good, "method": "random"}))
    assert "clean_acc" in str(paper_record_problem({**good, "clean_acc": 1.5}))
    assert "seed" in str(paper_record_problem({**good, "seed": 1}))
    assert "recipe" in str(paper_record_problem({**good, "recipe": {}}))


@pytest.mark.slow
def test_the_device_path_imports_without_the_engine() -> None:
    """The device lacks FAISS, highspy and pydantic: importing the run must not need them."""
    code = (
        "import sys\n"
        f"for m in {BLOCK!r}: sys.modules[m] = None\n"
        "import clients.train.paper, clients.train.paper_cli, clients.train.paper_report\n"
        "import clients.train.paper_run\n"
        "import clients.train.baselines.dm\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_autoattack_not_begun_without_time(tmp_path: Path) -> None:
    import time

    import torch

    from clients.train.paper_bundle import TrainingSet
    from clients.train.paper_run import _autoattack_all

    rec = _good_record()
    ts = TrainingSet(
        "mfc-b10-s0", "mfc", 10, 0, "counts", 1.0, np.zeros((1, 4)), np.zeros(1), np.ones(1)
    )
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 10))
    X, y = torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64)
    clock = (time.perf_counter() - 100.0, 60.0, 1.0)  # 100 s into a 60 s budget
    _autoattack_all([(ts, model, rec)], X, y, Recipe(), clock, [rec], tmp_path / "o", "# h", print)
    assert rec["autoattack_acc"] is None and rec["autoattack_note"] == "not run: time budget spent"
    assert json.loads((tmp_path / "o.json").read_text())[0]["autoattack_acc"] is None
