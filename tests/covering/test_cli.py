"""The covering CLI: cover/verify round trip, exit codes, one-line errors without tracebacks."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import warnings

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


@pytest.mark.slow  # a subprocess
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


def _outputs_over_inputs(d):
    (d / "sub").mkdir()
    (d / "link.json").symlink_to(d / "X.npy")
    with (d / "y2.npz").open("wb") as fh:  # a labels .npy named like the arrays file
        np.save(fh, np.load(d / "y.npy"))
    return [
        ["-o", "{d}/X.npy"],
        ["-o", "{d}/y.npy"],
        ["-o", "{d}/sub/../X.npy"],
        ["-o", "{d}/link.json"],
        ["--labels", "{d}/y2.npz", "-o", "{d}/y2.json", "--arrays"],  # <output>.npz = labels
        ["--labels", "{d}/y2.npz", "-o", "{d}/y2"],  # the arrays file, even if not needed
    ]


def test_cover_never_overwrites_an_input(files, capsys):
    cases = _outputs_over_inputs(files)
    before = {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()}
    for extra in cases:
        argv = ["cover", "{d}/X.npy", "--labels", "{d}/y.npy", "--k", "8", *extra]
        argv = [a.format(d=files) for a in argv]
        if "--labels" in extra:  # give the labels once
            argv = argv[:2] + argv[4:]
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: --output") and "is also an input" in err, err
        assert len(err.strip().splitlines()) == 1
    for name, data in before.items():
        assert (files / name).read_bytes() == data, name
    assert (files / "link.json").is_symlink()
    assert not [p for p in files.iterdir() if p.name.endswith(".tmp") or p.name == "y2.json"]
    # an output beside the inputs, named apart from them, is fine
    assert main(["cover", str(files / "X.npy"), "--k", "8", "-o", str(files / "c.json")]) == 0


def test_verify_a_labelled_cover_needs_labels(files, capsys):
    out = files / "c.json"
    X, y = str(files / "X.npy"), str(files / "y.npy")
    assert main(["cover", X, "--labels", y, "--k", "8", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", X, str(out)]) == 2  # a usage problem, not an invalid cover
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "pass --labels" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["verify", X, str(out), "--labels", y]) == 0


@pytest.mark.parametrize("metric", ["linf", "l2", "cosine"])
@pytest.mark.parametrize("labelled", [False, True])
def test_huge_eta_gives_no_overflow_warning(tmp_path, capsys, metric, labelled):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "X.npy", rng.random((200, 8)))
    np.save(tmp_path / "y.npy", rng.integers(0, 4, 200))
    lab = ["--labels", str(tmp_path / "y.npy")] if labelled else []
    X, out = str(tmp_path / "X.npy"), str(tmp_path / "c.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would become an error (exit 2)
        assert main(["cover", X, *lab, "--eta", "1e300", "--metric", metric, "-o", out]) == 0
        assert main(["verify", X, out, *lab]) == 0
    captured = capsys.readouterr()
    assert "Warning" not in captured.err and "valid:" in captured.out
    assert json.loads((tmp_path / "c.json").read_text())["stats"]["size"] == (4 if labelled else 1)


def _service_style(files, cover, name: str = "cover"):
    """A cover saved as the README's curl lines save a service cover: the manifest (payload URL
    ``/covers/<id>/arrays``) as ``<name>.json`` and the arrays as ``<name>.npz``."""
    from covering import Manifest
    from covering.io import cover_arrays, write_npz_atomic

    cid = "0123456789abcdef0123456789abcdef"
    npz = files / f"{name}.npz"
    sha = write_npz_atomic(npz, cover_arrays(cover))
    m = Manifest.from_cover(
        cover, cover_id=cid, payload_url=f"/covers/{cid}/arrays", payload_sha256=sha
    )
    out = files / f"{name}.json"
    out.write_text(m.model_dump_json())
    return out, npz, m


def _tamper(npz, **changes) -> None:
    from covering.io import read_npz

    arrays = read_npz(npz)
    arrays.update(changes)
    np.savez(npz, **arrays)


@pytest.fixture()
def service_cover(files):
    import covering

    X = np.load(files / "X.npy")
    y = np.load(files / "y.npy")
    return covering.cover(X, y, eta=0.5, method="greedy")


def test_verify_checks_the_arrays_beside_the_manifest(files, service_cover, capsys):
    X, y = str(files / "X.npy"), str(files / "y.npy")
    out, npz, _ = _service_style(files, service_cover)
    assert main(["verify", X, str(out), "--labels", y]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"full: assignment, weights, labels, radius ({npz})" and "valid:" in lines[1]
    # a tampered assignment (row 0 given to another centre, weights left): caught by sha256
    a = service_cover.assignment.copy()
    a[0] = (a[0] + 1) % service_cover.size
    _tamper(npz, assignment=a)
    assert main(["verify", X, str(out), "--labels", y]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("full:") and "sha256" in captured.err, captured
    # ... and caught by the full check when the manifest's sha256 is made to match as well
    mj = json.loads(out.read_text())
    mj["payload"]["sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    out.write_text(json.dumps(mj))
    assert main(["verify", X, str(out), "--labels", y]) == 1
    assert "weights" in capsys.readouterr().err


def test_verify_arrays_named_by_cover_id_or_option(files, service_cover, capsys, tmp_path):
    X, y = str(files / "X.npy"), str(files / "y.npy")
    out, npz, m = _service_style(files, service_cover)
    by_id = npz.rename(files / f"{m.cover_id}.npz")  # the name the service gives the download
    assert main(["verify", X, str(out), "--labels", y]) == 0
    assert capsys.readouterr().out.startswith(
        f"full: assignment, weights, labels, radius ({by_id})"
    )
    elsewhere = by_id.rename(tmp_path / "elsewhere.npz")
    assert main(["verify", X, str(out), "--labels", y]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("centres only: no arrays found (looked for") and "cover.npz" in first
    assert main(["verify", X, str(out), "--labels", y, "--arrays", str(elsewhere)]) == 0
    assert capsys.readouterr().out.startswith("full: ")
    assert main(["verify", X, str(out), "--labels", y, "--arrays", str(tmp_path / "no")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_verify_refuses_arrays_that_are_not_the_manifests_cover(files, service_cover, capsys):
    X, y = str(files / "X.npy"), str(files / "y.npy")
    out, _, _ = _service_style(files, service_cover)
    mj = json.loads(out.read_text())
    i = mj["centres"]["indices"]
    moved = next(r for r in range(150) if r not in i)
    mj["centres"]["indices"] = [moved, *i[1:]]  # inline centres that are not the arrays'
    out.write_text(json.dumps(mj))
    assert main(["verify", X, str(out), "--labels", y]) == 1
    assert "centres.indices" in capsys.readouterr().err


def test_verify_without_centres_or_arrays_is_a_usage_error(files, service_cover, capsys):
    X, y = str(files / "X.npy"), str(files / "y.npy")
    out, npz, _ = _service_style(files, service_cover)
    mj = json.loads(out.read_text())
    mj["centres"] = None  # a large cover: its centres are only in the arrays
    out.write_text(json.dumps(mj))
    npz.unlink()
    assert main(["verify", X, str(out), "--labels", y]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--arrays" in err


def test_verify_a_cover_written_without_arrays_says_centres_only(files, capsys):
    X, out = str(files / "X.npy"), files / "c.json"
    assert main(["cover", X, "--eta", "0.5", "--method", "greedy", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", X, str(out)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "centres only: the manifest names no arrays (no payload)"


def test_k_above_n_is_clamped_with_a_note(files, capsys):
    out = files / "c.json"
    assert main(["cover", str(files / "X.npy"), "--k", "1000", "-o", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["params"]["k"] == 150 and m["stats"]["size"] == 150
    assert "k=1000 is more than the 150 rows: taken as k=150" in m["stats"]["notes"]


def test_help_shows_extras_literally(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one help line per option
    assert main(["cover", "--help"]) == 0
    assert "(extra [ray])" in capsys.readouterr().out  # not eaten as rich markup
