"""``covering bench``: the benchmark suites (plugged in through the ``covering.commands`` entry
point group, like ``serve`` and ``train``); the work is in :mod:`bench.runner`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from covering.io import output_problem

__all__ = ["bench_cmd", "register", "run_cli"]


def run_cli(
    *, quick: bool, json_out: Path | None, only: str | None, methods: str | None = None
) -> None:
    """Run the benchmark suite (:func:`bench.runner.main`, imported only when it runs)."""
    from bench.runner import main

    main(quick=quick, json_out=json_out, only=only, methods=methods)


def bench_cmd(
    quick: Annotated[bool, typer.Option(help="the small suite (< 2 minutes on 2 cores)")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="write records here")] = None,
    only: Annotated[str | None, typer.Option(help="comma-separated suite names")] = None,
    methods: Annotated[
        str | None,
        typer.Option(help="comma-separated methods (e.g. greedy,farthest_first): only those runs"),
    ] = None,
) -> None:
    """Benchmark the engine against farthest-first and exact MILP baselines."""
    if json_out is not None:
        _check_bench_output(json_out)
    run_cli(quick=quick, json_out=json_out, only=only, methods=methods)


def _check_bench_output(json_out: Path) -> None:
    """Refuse, before the (long) run, a ``--json`` path the records cannot be written to.

    The table and the plot go beside it (same stem, ``.md`` and ``.png``); missing directories
    are created, so the nearest existing one must be a writable directory.
    """
    if json_out.suffix in (".md", ".png"):
        raise ValueError(
            f"--json {json_out}: the table and plot go beside it as <stem>.md and <stem>.png:"
            " name it e.g. bench.json"
        )
    for path in (json_out, json_out.with_suffix(".md"), json_out.with_suffix(".png")):
        what = "" if path == json_out else f"its companion file {path} "
        if path.parent.is_dir():
            problem = output_problem(path)
        else:  # the runner creates the missing directories below the nearest existing one
            base = next(d for d in (path.parent, *path.parent.parents) if os.path.lexists(d))
            if not base.is_dir():
                problem = f"{base} is not a directory"
            elif not os.access(base, os.W_OK | os.X_OK):
                problem = f"directory {base} is not writable"
            else:
                problem = None
        if problem is not None:
            raise ValueError(f"--json {json_out}: {what}{problem}")


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the ``covering`` command line."""
    app.command("bench")(bench_cmd)
