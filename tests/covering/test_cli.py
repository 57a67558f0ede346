"""The covering CLI: cover/verify round trip, exit codes, one-line errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from covering.cli import main


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((150, 4)).astype(np.float32)
    y = rng.integers(0, 3, 150)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path


def test_cover_then_verify(files, capsys):
    out = files / "c.json"
    rc = main(
        [
            "cover",
            str(files / "X.npy"),
            "--labels",
            str(files / "y.npy"),
            "--eta",
            "0.5",
            "--method",
            "greedy",
            "-o",
            str(out),
            "--arrays",
        ]
    )
    assert rc == 0
    summary = capsys.readouterr().out
    assert "size=" in summary and "lower_bound=" in summary and "seconds=" in summary
    m = json.loads(out.read_text())
    assert m["params"]["eta"] == 0.5 and (files / "c.npz").is_file()
    assert main(["verify", str(files / "X.npy"), str(out), "--labels", str(files / "y.npy")]) == 0
    # without the arrays file, verification uses the inline centres
    (files / "c.npz").unlink()
    assert main(["verify", str(files / "X.npy"), str(out), "--labels", str(files / "y.npy")]) == 0


def test_verify_reports_violation(files, capsys):
    out = files / "c.json"
    assert (
        main(["cover", str(files / "X.npy"), "--eta", "0.5", "--method", "greedy", "-o", str(out)])
        == 0
    )
    m = json.loads(out.read_text())
    m["centres"]["indices"] = m["centres"]["indices"][:1]
    m["centres"]["weights"] = [150]
    m["stats"]["size"] = 1
    out.write_text(json.dumps(m))
    assert main(["verify", str(files / "X.npy"), str(out)]) == 1
    assert "invalid:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["cover", "{d}/X.npy", "--eta", "-1", "-o", "{d}/o.json"], "eta"),
        (["cover", "{d}/X.npy", "-o", "{d}/o.json"], "exactly one"),
        (["cover", "{d}/nope.npy", "--eta", "1", "-o", "{d}/o.json"], "no such file"),
        (["cover", "{d}/X.npy", "--eta", "1", "--metric", "l9", "-o", "{d}/o.json"], "metric"),
        (
            ["cover", "{d}/X.npy", "--labels", "{d}/short.npy", "--eta", "1", "-o", "{d}/o.json"],
            "length",
        ),
        (["cover", "{d}/pickle.npy", "--eta", "1", "-o", "{d}/o.json"], "numeric"),
        (
            ["cover", "{d}/X.npy", "--k", "1", "--labels", "{d}/y.npy", "-o", "{d}/o.json"],
            "classes",
        ),
        (["cover", "{d}/X.npy", "--eta", "1", "--arrays", "-o", "{d}/o.npz"], "JSON"),
        (["cover", "{d}/X.npy", "--eta", "1", "-o", "{d}"], "directory"),
        (["verify", "{d}/X.npy", "{d}/bad.json"], "not a valid cover manifest"),
    ],
)
def test_errors_are_one_line_exit_2(files, args, needle, capsys):
    np.save(files / "short.npy", np.zeros(3, dtype=np.int64))
    np.save(files / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (files / "bad.json").write_text('{"kind": "cover-manifest", "schema_version": 7}')
    argv = [a.format(d=files) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert not [p for p in files.iterdir() if p.name.endswith(".tmp")]  # nothing half-written


def test_error_in_a_real_process_has_no_traceback(files):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "covering.cli",
            "cover",
            str(files / "X.npy"),
            "--eta",
            "nan",
            "-o",
            str(files / "o.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: eta")


def test_verify_checks_the_labels(files, capsys):
    out = files / "c.json"
    X, y = str(files / "X.npy"), str(files / "y.npy")
    assert main(["cover", X, "--labels", y, "--eta", "0.5", "-o", str(out)]) == 0
    np.save(files / "y2.npy", np.roll(np.load(files / "y.npy"), 1))
    assert main(["verify", X, str(out), "--labels", str(files / "y2.npy")]) == 1
    assert "fingerprint" in capsys.readouterr().err
    plain = files / "plain.json"
    assert main(["cover", X, "--eta", "0.5", "-o", str(plain)]) == 0
    assert main(["verify", X, str(plain), "--labels", y]) == 2  # an unlabelled cover
    assert "unlabelled" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("exc", "code", "needle"),
    [
        (EOFError("Ran out of input"), 2, "unexpected end of input"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_eof_and_interrupt_are_not_silent(files, monkeypatch, capsys, exc, code, needle):
    # click turns both into Abort; main must still say what happened
    def boom(*_a: object, **_k: object) -> None:
        raise exc

    monkeypatch.setattr("covering.cli.load_npy", boom)
    rc = main(["cover", str(files / "X.npy"), "--eta", "1", "-o", str(files / "c.json")])
    err = capsys.readouterr().err
    assert rc == code and needle in err and "Traceback" not in err
