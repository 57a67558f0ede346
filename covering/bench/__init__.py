"""Benchmarks (``covering bench``): the engine against its baselines, in one process."""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_cli"]


def run_cli(
    *, quick: bool, json_out: Path | None, only: str | None, methods: str | None = None
) -> None:
    """Run the benchmark suite (implemented in :mod:`covering.bench.runner`)."""
    from covering.bench.runner import main

    main(quick=quick, json_out=json_out, only=only, methods=methods)
