"""``covering train`` / ``experiment`` / ``demo`` through ``covering.cli.main``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from covering.cli import main

FAST = [
    "--epochs",
    "1",
    "--batch-size",
    "64",
    "--steps-per-epoch",
    "3",
    "--attack-steps",
    "1",
    "--eval-n",
    "40",
    "--pgd-steps",
    "2",
    "--attacks",
    "linf:0.1;l2:0.5",
    "--no-progress",
]


def test_train_end_to_end(
    digits_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "res.json"
    rc = main(
        [
            "train",
            "digits",
            "--manifest",
            str(digits_manifest),
            *FAST,
            "--checkpoint",
            str(tmp_path / "ck.pt"),
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "clean accuracy" in text and "pgd-linf-0.1" in text and "bound:" in text
    res = json.loads(out.read_text())
    assert set(res["robust_acc"]) == {"pgd-linf-0.1", "pgd-l2-0.5"}
    assert 0 <= res["clean_acc"] <= 1 and (tmp_path / "ck.pt").is_file()
    bound = res["bound"]
    assert bound["cover_loss"] >= 0
    # the verdict: a JSON boolean, and said on the bound line
    assert bound["holds"] is (bound["cover_loss"] >= bound["full_loss"])
    (line,) = [x for x in text.splitlines() if x.startswith("bound:")]
    assert line.endswith(": holds" if bound["holds"] else ": does not hold"), line


def test_train_help_shows_the_eval_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one help line per option
    assert main(["train", "--help"]) == 0
    assert "also AutoAttack (extra [eval])" in capsys.readouterr().out


def test_train_bound_radius_and_sampler(
    digits_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    rc = main(
        [
            "train",
            "digits",
            "--manifest",
            str(digits_manifest),
            *FAST,
            "--radius",
            "bound",
            "--eps",
            "0.1",
            "--norm",
            "l2",
            "--sampler",
            "--no-bound",
            "--json",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr()
    m = json.loads(digits_manifest.read_text())
    assert json.loads(out.read_text())["eps_train"] == pytest.approx(0.1 + m["params"]["eta"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "cifar10"], "unknown dataset"),
        (["train", "digits", "--eps", "-0.1"], "eps must be >= 0"),
        (["train", "digits", "--radius", "huge"], "--radius must be eps or bound"),
        (["train", "digits", "--manifest", "nope.json"], "no such file"),
        (["experiment", "digits", "--budgets", "500"], "exceeds class"),
        (["experiment", "cifar10"], "unknown dataset"),
        (["experiment", "digits", "--methods", "mfc,magic"], "unknown method"),
        (["train", "digits", "--eps", "inf"], "eps must be >= 0 and finite"),
        (["train", "digits", "--lr", "inf"], "learning rate must be > 0 and finite"),
        (["train", "digits", "--alpha", "-1"], "alpha must be > 0"),
        (["train", "digits", "--alpha", "nan"], "alpha must be > 0"),
        (["train", "digits", "--seed", "-1"], "seed must lie in [0, 2**31)"),
        (["train", "digits", "--batch-size", "1000000000"], "batch size must lie in"),
        (["train", "digits", "--width", "100000"], "model width must lie in"),
        (["train", "digits", "--attacks", "l2:inf"], "attack eps must be >= 0 and finite"),
        (["train", "digits", "--attacks", "linf:1_0"], "bad attack radius"),
        (["train", "digits", "--json", "no/such/dir/r.json"], "does not exist"),
        (["train", "digits", "--json", "."], "is a directory"),
        (["train", "digits", "--checkpoint", "."], "is a directory"),
        (["train", "digits", "--image-shape", "1,2,32"], "at least 4x4 pixels"),
        (["train", "digits", "--eps", "1e39"], "eps must be >= 0 and finite"),
        (["train", "digits", "--lr", "1e38"], "learning rate must be > 0 and finite"),
        (["train", "digits", "--attacks", "linf:1e39"], "attack eps must be >= 0 and finite"),
        (["train", "digits", "--attacks", ";"], "no attack in"),
        (["train", "digits", "--manifest", "abc", "--server", "http://x:abc"], "invalid service"),
    ],
)
def test_bad_input_is_one_clear_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(args + (["--no-progress"] if args[0] == "train" else []))
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_foreign_manifest_refused(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    import covering
    from covering.cli import write_manifest

    X, y = digits
    cov = covering.cover(X[:300], y[:300], eta=2.0)
    path = tmp_path / "foreign.json"
    write_manifest(path, cov)
    rc = main(["train", "digits", "--manifest", str(path), *FAST])
    err = capsys.readouterr().err
    assert rc == 2 and "another dataset" in err and cov.fingerprint in err


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
    )


@pytest.mark.slow  # a subprocess
def test_missing_torch_is_a_clear_error() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from covering.cli import main\n"
        "sys.exit(main(['train', 'digits']))"
    )
    p = _run(code)
    assert p.returncode == 2, p.stderr
    assert "install covering[train]" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow  # a subprocess
def test_register_does_not_import_torch() -> None:
    p = _run(
        "import sys, typer\nfrom clients.train.cli import register\n"
        "app = typer.Typer()\nregister(app); register(app)\n"
        "names = [c.name for c in app.registered_commands]\n"
        "assert names == ['train', 'experiment', 'demo'], names\n"
        "assert 'torch' not in sys.modules"
    )
    assert p.returncode == 0, p.stderr


def test_bound_needs_a_cover_in_the_attack_norm(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    import covering
    from covering.cli import write_manifest

    X, y = digits
    cov = covering.cover(X, y, eta=0.6, metric="linf", seed=0)
    path = tmp_path / "linf.json"
    write_manifest(path, cov)
    rc = main(
        ["train", "digits", "--manifest", str(path), *FAST, "--norm", "l2", "--radius", "bound"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "needs a cover in the l2 metric" in err
    rc = main(["train", "digits", "--manifest", str(path), *FAST, "--norm", "l2"])
    out = capsys.readouterr().out
    assert rc == 0 and "bound: not reported" in out
    rc = main(["train", "digits", "--manifest", str(path), *FAST, "--norm", "linf"])
    assert rc == 0 and "bound: weighted cover loss" in capsys.readouterr().out


def test_outputs_never_overwrite_inputs(
    digits_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digits_manifest.read_bytes()
    base = ["train", "digits", "--manifest", str(digits_manifest), *FAST]
    ck = tmp_path / "ck.pt"
    for extra in (
        ["--json", str(digits_manifest)],
        ["--checkpoint", str(digits_manifest)],
        ["--checkpoint", str(ck), "--json", str(ck)],
    ):
        rc = main(base + extra)
        err = capsys.readouterr().err
        assert rc == 2 and "is also an input" in err, err
    assert digits_manifest.read_bytes() == before and not ck.exists()


def test_a_large_eta_only_matters_where_it_is_used(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    import covering
    from covering.cli import write_manifest

    X, y = digits
    path = tmp_path / "wide.json"
    write_manifest(path, covering.cover(X, y, eta=1e300, seed=0))
    rc = main(["train", "digits", "--manifest", str(path), *FAST])
    assert rc == 0 and "bound: not reported (eps + eta" in capsys.readouterr().out
    rc = main(["train", "digits", "--manifest", str(path), *FAST, "--radius", "bound"])
    assert rc == 2 and "exceeds the largest radius" in capsys.readouterr().err
