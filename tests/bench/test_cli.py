"""``covering bench`` (the ``bench.cli`` plugin): options checked before the run."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from bench.cli import register
from covering.cli import main


@pytest.fixture()
def files(tmp_path):
    """A directory holding a file ``X.npy`` (an input a path cannot go through)."""
    (tmp_path / "X.npy").write_bytes(b"\x93NUMPY")
    return tmp_path


@pytest.mark.parametrize(
    ("json_out", "needle"),
    [
        ("{d}/bench.md", "name it e.g. bench.json"),
        ("{d}/bench.png", "name it e.g. bench.json"),
        ("{d}", "is a directory"),
        ("{d}/q.json", "q.png is a directory"),
        ("{d}/X.npy/r/b.json", "is not a directory"),
        ("{d}/" + "b" * 252 + ".json", "longer than 255 bytes"),
    ],
)
def test_bench_json_is_checked_before_the_run(files, json_out, needle, capsys, monkeypatch):
    def never(**_k: object) -> None:
        raise AssertionError("the bench ran")

    monkeypatch.setattr("bench.cli.run_cli", never)
    (files / "q.png").mkdir()
    assert main(["bench", "--quick", "--json", json_out.format(d=files)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --json") and needle in err, err
    assert len(err.strip().splitlines()) == 1


def test_bench_is_a_plugin_of_the_command_line() -> None:
    """``covering bench`` comes from the ``covering.commands`` entry point ``bench``."""
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    group = text.split('[project.entry-points."covering.commands"]')[1].split("\n[")[0]
    assert 'bench = "bench.cli:register"' in group.splitlines()
    app = typer.Typer()
    register(app)
    assert [c.name for c in app.registered_commands] == ["bench"]
