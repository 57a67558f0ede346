from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from clients.train import demo, experiment
from clients.train.experiment import grid_config, run_experiment
from clients.train.results import load_records, write_outputs
from covering.cli import main

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
    monkeypatch.setattr(demo, "_train_eval", boom)
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


#: the CLI's smallest grid; ``run_one`` is replaced, so nothing trains
CLI = ["experiment", "digits", "--quick", "--budgets", "2", "--methods", "random"]


def _no_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any training run fail the test: refusals must come before the expensive work."""

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("ran before refusing")

    monkeypatch.setattr(experiment, "run_one", boom)


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one-line error of ``covering <argv>``, which must exit 2."""
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"a": 1}', "not a list of records"),
        ("[1, 2]", "record 0 is a number"),
        ('[{"dataset": "digits"}]', "record 0 has no method"),
        (
            '[{"dataset": "digits", "method": "random", "budget_per_class": [2], "seed": 0, '
            '"n_train": 20, "clean_acc": 0.5, "robust_acc": {}, "train_seconds": 1}]',
            "budget_per_class = [2]",
        ),
        ("{bad", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_results_file_of_wrong_shape_refused(
    content: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_runs(monkeypatch)
    path = tmp_path / "res.json"
    path.write_text(content)
    err = _refused([*CLI, "--out", str(tmp_path / "res")], capsys)
    assert str(path) in err and message in err


def test_unwritable_out_refused_before_any_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_runs(monkeypatch)
    (tmp_path / "isdir.json").mkdir()
    err = _refused([*CLI, "--out", str(tmp_path / "isdir")], capsys)
    assert str(tmp_path / "isdir.json") in err and "not a file" in err
    (tmp_path / "plots-robust.png").mkdir()
    assert "plots-robust.png" in _refused([*CLI, "--out", str(tmp_path / "plots")], capsys)
    (tmp_path / "afile").write_text("")
    err = _refused([*CLI, "--out", str(tmp_path / "afile" / "sub" / "x")], capsys)
    assert "cannot create" in err and "is not a directory" in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--fraction", "0", "fraction"),
        ("--fraction", "1", "below 1"),
        ("--fraction", "1.5", "fraction"),
        ("--fraction", "nan", "fraction"),
        ("--weighting", "log", "--weighting must be one of"),
        ("--steps", "0", "--steps must be"),
    ],
)
def test_demo_refuses_bad_options(
    option: str,
    value: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_runs(monkeypatch)
    err = _refused(["demo", "--dataset", "digits", option, value, "--no-progress"], capsys)
    assert message in err


def test_demo_on_digits_compares_cover_and_random(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clients.train.demo import WHY, run_demo

    monkeypatch.setenv("COVERING_DATA_HOME", str(tmp_path))
    lines: list[str] = []
    out = run_demo("digits", fraction=0.1, steps=3, progress=False, echo=lines.append)
    assert out["cover"]["size"] == 150  # stratified 10 % of the 1,500 training rows
    assert lines[2].startswith("cover: 150 centres, every one of the 1500 training rows within")
    assert lines[3].startswith("mfc ") and lines[4].startswith("random ")
    assert lines[5].startswith("cover minus random, points (this seed): clean ")
    assert WHY in lines
    for name in ("mfc", "random"):
        assert 0 <= out[name]["clean"] <= 1 and set(out[name]["robust"]) == {
            "pgd-linf-0.1",
            "pgd-linf-0.3",
            "pgd-l2-1.5",
        }
    again: list[str] = []
    run_demo("digits", fraction=0.1, steps=3, progress=False, echo=again.append)
    assert "from the cache" in again[2]  # the cover is cached in COVERING_DATA_HOME


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", ","], "names no method"),
        (["--methods", ""], "names no method"),
        (["--time-limit", "nan"], "--time-limit must be a finite number"),
        (["--time-limit", "inf"], "--time-limit must be a finite number"),
        (["--time-limit", "-1"], "--time-limit must be a finite number"),
    ],
)
def test_bad_methods_and_time_limit_refused(
    extra: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_runs(monkeypatch)
    assert message in _refused([*CLI, *extra, "--out", str(tmp_path / "x")], capsys)


def _fake_run(data: Any, method: str, b: int | None, cfg: Any, progress: bool) -> dict[str, Any]:
    """A record as :func:`experiment.run_one` makes it, without training."""
    return {
        "dataset": data.name,
        "method": method,
        "budget_per_class": b,
        "n_train": 1500 if b is None else 10 * b,
        "clean_acc": 0.5,
        "robust_acc": {"pgd-linf-0.1": 0.25},
        "autoattack_acc": {},
        "seed": cfg.seed,
        "seconds": 0.0,
        "train_seconds": 0.0,
        "config": experiment.record_config(cfg),
    }


def test_log_names_the_full_data_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(experiment, "run_one", _fake_run)
    out = tmp_path / "run.v2"
    assert main([*CLI[:-1], "random,full", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "b=None" not in text
    assert any(line.startswith("full") and "b=all" in line for line in text.splitlines())
    assert f"wrote {out}.json" in text and (tmp_path / "run.v2.md").is_file()


def _record(**changes: Any) -> dict[str, Any]:
    """A stored record of the CLI grid (``CLI``), with ``changes``."""
    cfg = replace(grid_config(quick=True), budgets=(2,), methods=("random",))
    data = type("D", (), {"name": "digits"})
    return {**_fake_run(data, "random", 2, cfg, False), **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"robust_acc": {}}, "robust_acc = {}, expected a non-empty object"),
        ({"robust_acc_all": {}}, "robust_acc_all = {}, expected a non-empty object"),
        ({"clean_acc": 1.5}, "clean_acc = 1.5, expected an accuracy in [0, 1]"),
        ({"robust_acc": {"pgd-linf-0.1": -0.1}}, "robust_acc = "),
        ({"autoattack_acc": {"aa": 2}}, "autoattack_acc = "),
        ({"config": []}, "config = [], expected an object"),
    ],
)
def test_records_need_accuracies_in_0_1(
    changes: dict[str, Any],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_runs(monkeypatch)
    (tmp_path / "res.json").write_text(json.dumps([_record(**changes)]))
    assert message in _refused([*CLI, "--out", str(tmp_path / "res")], capsys)


def test_plots_without_any_accuracy_name(tmp_path: Path) -> None:
    write_outputs([_record(robust_acc={})], tmp_path / "x")  # was ZeroDivisionError
    assert (tmp_path / "x-robust.png").stat().st_size > 0
    assert (tmp_path / "x-tradeoff.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("value", "message"), [("NaN", "NaN"), ("Infinity", "Infinity"), ("-1e999", "-1e999")]
)
def test_non_finite_numbers_refused(
    value: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_runs(monkeypatch)
    text = json.dumps([_record(seconds=123.0)]).replace("123.0", value)
    (tmp_path / "res.json").write_text(text)
    err = _refused([*CLI, "--out", str(tmp_path / "res")], capsys)
    assert "not valid JSON" in err and message in err


def test_run_giving_nan_is_an_error_and_the_json_stays_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def nan_full(data: Any, method: str, b: int | None, cfg: Any, progress: bool) -> Any:
        rec = _fake_run(data, method, b, cfg, progress)
        return {**rec, "bound": {"cover_loss": float("nan")}} if method == "full" else rec

    monkeypatch.setattr(experiment, "run_one", nan_full)
    out = tmp_path / "res"
    err = _refused([*CLI[:-1], "random,full", "--out", str(out)], capsys)
    assert "full at all data" in err and "bound.cover_loss = nan" in err
    kept = json.loads((tmp_path / "res.json").read_text(), parse_constant=float.fromhex)
    assert [r["method"] for r in kept] == ["random"]
    with pytest.raises(ValueError, match="record 0 has clean_acc = nan"):
        write_outputs([_record(clean_acc=float("nan"))], tmp_path / "w")


def test_resume_is_keyed_by_the_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(experiment, "run_one", _fake_run)
    out = str(tmp_path / "res")
    assert main([*CLI, "--out", out]) == 0
    _no_runs(monkeypatch)
    assert main([*CLI, "--out", out]) == 0  # the same grid resumes: nothing to run
    full = [a for a in CLI if a != "--quick"]  # the full recipe, same methods and budgets
    err = _refused([*full, "--out", out], capsys)
    assert "another recipe" in err and "subset_steps 60 vs 150" in err
    assert "another recipe" in _refused([*CLI, "--no-autoattack", "--out", out], capsys)


def test_repo_mnist_results_are_done_for_the_default_grid() -> None:
    path = Path(__file__).parents[3] / "results" / "mnist.json"  # committed with the repo
    records = load_records(path)
    experiment._check_recipe(records, grid_config(False), path)
    assert experiment.pending(records, grid_config(False), "mnist") == []
    assert len(experiment.pending(records, grid_config(True), "mnist")) == 5


def test_table_tells_seeds_and_datasets_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(experiment, "run_one", _fake_run)
    out = tmp_path / "res"
    assert main([*CLI, "--out", str(out)]) == 0
    md = (tmp_path / "res.md").read_text().splitlines()
    assert md[0] == (
        "| method | budget/class | n train | clean | pgd-linf-0.1 | train s |"
    )  # one seed, one dataset: as before
    assert md[2] == "| random | 2 | 20 | 50.0 | 25.0 | 0 |"
    assert main([*CLI, "--seed", "1", "--out", str(out)]) == 0
    md = (tmp_path / "res.md").read_text().splitlines()
    assert md[0].startswith("| method | budget/class | seed | n train |")
    assert md[2:] == [
        "| random | 2 | 0 | 20 | 50.0 | 25.0 | 0 |",
        "| random | 2 | 1 | 20 | 50.0 | 25.0 | 0 |",
    ]
    records = [_record(), _record(dataset="mnist")]
    write_outputs(records, tmp_path / "two")
    md = (tmp_path / "two.md").read_text().splitlines()
    assert md[0].startswith("| dataset | method | budget/class | n train |")
    assert [line.split(" | ")[0] for line in md[2:]] == ["| digits", "| mnist"]


@pytest.mark.parametrize("seed", ["-1", str(2**31)])
def test_seed_out_of_range_names_the_option(
    seed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_runs(monkeypatch)
    assert "--seed must be" in _refused(
        [*CLI, "--seed", seed, "--out", str(tmp_path / "x")], capsys
    )
    assert "--seed must be" in _refused(["demo", "--seed", seed, "--no-progress"], capsys)


def test_demo_names_the_datasets_it_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_runs(monkeypatch)
    (tmp_path / "X.npy").write_bytes(b"")
    for dataset in (str(tmp_path / "X.npy"), "nope"):
        err = _refused(["demo", "--dataset", dataset, "--no-progress"], capsys)
        assert "the demo takes auto, mnist, digits or a directory of MNIST IDX files" in err
        assert "use covering train X.npy --labels y.npy" in err
