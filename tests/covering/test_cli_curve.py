"""``covering curve`` (size against eta) and ``covering cover --size``: values equal the
Python functions', and bad options are refused before any work (one line, exit 2)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import covering
from covering.cli import main
from covering.data import load_digits


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits()
    return X[:600], y[:600]


@pytest.fixture()
def files(tmp_path, digits):
    X, y = digits
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path


def _args(files, *extra: str, labels: bool = True) -> list[str]:
    base = ["curve", str(files / "X.npy"), "--no-progress"]
    if labels:
        base += ["--labels", str(files / "y.npy")]
    return [*base, *extra]


def _table(out: str) -> list[list[str]]:
    """The rows of the printed table (the lines after the ``eta centres fraction`` header)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["eta", "centres"])
    rows = []
    for line in lines[start + 1 :]:
        parts = line.split()
        try:
            float(parts[0])
        except (ValueError, IndexError):
            break
        rows.append(parts)
    return rows


def test_curve_at_given_etas_equals_size_curve(files, digits, capsys) -> None:
    X, y = digits
    out = files / "curve.json"
    rc = main(_args(files, "--etas", "2.0,0.8,1.2,1.6", "--json", str(out), "--per-class"))
    assert rc == 0
    want = covering.size_curve(X, y, [0.8, 1.2, 1.6, 2.0])
    got = json.loads(out.read_text())
    assert got["etas"] == [0.8, 1.2, 1.6, 2.0]
    assert got["sizes"] == want.sizes.tolist()
    assert got["class_sizes"] == want.class_sizes.tolist()
    assert got["classes"] == list(range(10)) and got["n"] == 600
    assert got["fractions"] == pytest.approx((want.sizes / 600).tolist())
    rows = _table(capsys.readouterr().out)
    assert [float(r[0]) for r in rows] == [0.8, 1.2, 1.6, 2.0]
    assert [int(r[1]) for r in rows] == want.sizes.tolist()
    assert [r[2] for r in rows] == [f"{s / 600:.2%}" for s in want.sizes]
    # --per-class: one column per class, summing to the total
    per = np.array([[int(v) for v in r[3:]] for r in rows])
    assert per.T.tolist() == want.class_sizes.tolist()
    assert want.sizes[0] > want.sizes[-1]  # the curve falls: the comparison is not vacuous


def test_curve_range_is_geometric_and_equals_size_curve(files, digits) -> None:
    X, y = digits
    out = files / "curve.json"
    args = _args(files, "--eta-min", "0.9", "--eta-max", "2.4", "--num", "5", "--json", str(out))
    assert main(args) == 0
    grid = np.geomspace(0.9, 2.4, 5)
    got = json.loads(out.read_text())
    assert got["etas"] == pytest.approx(grid.tolist(), rel=1e-12)
    assert got["sizes"] == covering.size_curve(X, y, grid).sizes.tolist()


def test_default_range_and_unlabelled(files, digits) -> None:
    X, y = digits
    out = files / "curve.json"
    assert main(_args(files, "--num", "4", "--json", str(out))) == 0
    want = covering.size_curve(X, y, num=4)
    got = json.loads(out.read_text())
    assert got["etas"] == want.etas.tolist() and got["sizes"] == want.sizes.tolist()
    assert main(_args(files, "--etas", "1.5", "--json", str(out), labels=False)) == 0
    got = json.loads(out.read_text())
    assert got["classes"] == [-1]
    assert got["sizes"] == covering.size_curve(X, None, [1.5]).sizes.tolist()


def test_sizes_are_answered_from_the_curve(files, digits, capsys) -> None:
    X, y = digits
    etas = [1.0, 1.4, 1.8, 2.2]
    curve = covering.size_curve(X, y, etas)
    budget = int(curve.sizes[2])  # reached exactly at eta=1.8, not at 1.4
    assert curve.sizes[1] > budget
    rc = main(_args(files, "--etas", ",".join(map(str, etas)), "--sizes", f"{budget},10"))
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    hit = next(line for line in lines if line.startswith(f"{budget} centres:"))
    assert f"eta={curve.eta_for(budget):.6g}" in hit and f"{budget} centres);" in hit
    assert f"--size {budget} -o cover.json" in hit
    assert curve.eta_for(10) is None  # 10 classes: 10 centres needs a radius past the curve's
    miss = next(line for line in lines if line.startswith("10 centres:"))
    assert "no radius of the curve is enough" in miss and "--eta-max" in miss
    assert f"the fewest is {curve.sizes.min()}" in miss


def test_plot_png_and_svg(files) -> None:
    pytest.importorskip("matplotlib")
    png, svg = files / "c.png", files / "c.svg"
    assert main(_args(files, "--etas", "1,2", "--plot", str(png), "--sizes", "50")) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(_args(files, "--etas", "1,2", "--plot", str(svg), "--per-class")) == 0
    assert b"<svg" in svg.read_bytes()[:2000]
    assert not list(files.glob(".*.tmp"))  # written atomically, nothing left behind


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--etas", "1,abc"], "'abc' is not a number"),
        (["--etas", "1,0"], "finite number > 0"),
        (["--etas", "-1"], "finite number > 0"),
        (["--etas", "nan"], "finite number > 0"),
        (["--etas", "inf"], "finite number > 0"),
        (["--etas", ""], "give comma-separated radii"),
        (["--etas", ",".join(["1"] * 1001)], "at most 1000 radii"),
        (["--eta-min", "2", "--eta-max", "1"], "must be smaller than --eta-max"),
        (["--eta-min", "1", "--eta-max", "1"], "must be smaller than --eta-max"),
        (["--eta-min", "1"], "needs both --eta-min and --eta-max"),
        (["--eta-min", "nan", "--eta-max", "2"], "--eta-min must be a finite number > 0"),
        (["--eta-min", "0", "--eta-max", "2"], "--eta-min must be a finite number > 0"),
        (["--etas", "1", "--eta-min", "1", "--eta-max", "2"], "either --etas or a range"),
        (["--etas", "1", "--num", "4"], "either --etas or a range"),
        (["--num", "1"], "--num must be in [2, 1000]"),
        (["--num", "1001"], "--num must be in [2, 1000]"),
        (["--sizes", "10,x"], "'x' is not a whole number"),
        (["--sizes", "0"], "'0' is not a whole number"),
        (["--sizes", "5"], "fewer than the 10 classes"),
        (["--sizes", "601"], "more than the 600 rows"),
        (["--metric", "l3"], "metric"),
        (["--plot", "c.gif"], ".png, .svg, .pdf"),
    ],
)
def test_bad_options_exit_2_with_one_line(files, capsys, monkeypatch, extra, message) -> None:
    monkeypatch.chdir(files)
    out = files / "curve.json"
    assert main(_args(files, *extra, "--json", str(out))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err, err
    assert not out.exists()


def test_mismatched_labels_and_outputs_are_refused(files, capsys) -> None:
    np.save(files / "short.npy", np.zeros(10, dtype=np.int64))
    rc = main(["curve", str(files / "X.npy"), "--labels", str(files / "short.npy")])
    assert rc == 2 and "labels" in capsys.readouterr().err
    rc = main(_args(files, "--json", str(files / "X.npy")))
    assert rc == 2 and "is also an input" in capsys.readouterr().err
    rc = main(_args(files, "--json", str(files / "c.png"), "--plot", str(files / "c.png")))
    assert rc == 2 and "same file" in capsys.readouterr().err
    rc = main(_args(files, "--json", str(files / "missing" / "c.json")))
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_plot_without_matplotlib_names_the_extra(files, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = files / "curve.json"
    rc = main(_args(files, "--etas", "1", "--plot", str(files / "c.png"), "--json", str(out)))
    err = capsys.readouterr().err
    assert rc == 2 and "needs matplotlib" in err and "covering[train]" in err
    assert not out.exists()  # refused before any work


def test_cover_size_gives_exactly_size_centres(files, digits, capsys) -> None:
    X, y = digits
    out = files / "c.json"
    args = ["cover", str(files / "X.npy"), "--labels", str(files / "y.npy"), "--size", "77"]
    assert main([*args, "-o", str(out), "--arrays", "--no-progress"]) == 0
    m = covering.Manifest.model_validate_json(out.read_bytes())
    want = covering.eta_for_size(X, y, 77)
    assert m.stats.size == 77 and m.params.k is None
    assert m.params.eta == pytest.approx(want.eta)
    assert main(["verify", str(files / "X.npy"), str(out), "--labels", str(files / "y.npy")]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--eta", "1"], "one of --eta, --k and --size"),
        (["--k", "20"], "one of --eta, --k and --size"),
        (["--method", "milp"], "--method milp does not apply"),
        (["--backend", "gpu"], "--backend gpu does not apply"),
        (["--time-limit", "5"], "--time-limit does not apply"),
        (["--ray"], "--size does not run on Ray"),
    ],
)
def test_cover_size_conflicts(files, capsys, extra, message) -> None:
    out = files / "c.json"
    args = ["cover", str(files / "X.npy"), "--size", "50", "-o", str(out), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_cover_size_below_classes_is_refused(files, capsys) -> None:
    out = files / "c.json"
    args = ["cover", str(files / "X.npy"), "--labels", str(files / "y.npy"), "--size", "3"]
    assert main([*args, "-o", str(out)]) == 2
    assert "smaller than the number of classes" in capsys.readouterr().err
    assert not out.exists()
