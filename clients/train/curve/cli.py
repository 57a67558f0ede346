"""Command-line parsing of ``covering experiment --grid fractions`` (torch-free until it runs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["parse_list", "run_fractions_grid"]


def parse_list(
    option: str, text: str, kind: type, known: tuple[Any, ...] | None = None
) -> tuple[Any, ...]:
    """``"a,b"`` -> a tuple of ``kind`` values; ValueError naming ``option`` otherwise."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"{option} {text!r} is empty")
    out = []
    for t in items:
        try:
            v = kind(t)
        except ValueError:
            raise ValueError(f"{option}: {t!r} is not a valid {kind.__name__}") from None
        if known is not None and v not in known:
            raise ValueError(f"{option}: unknown value {t!r}: expected one of {', '.join(known)}")
        out.append(v)
    return tuple(out)


def _shard(text: str) -> tuple[int, int]:
    i, sep, k = text.partition("/")
    try:
        pair = (int(i), int(k))
    except ValueError:
        pair = (-1, 0)
    if not sep or not (pair[1] >= 1 and 0 <= pair[0] < pair[1]):
        raise ValueError(f"--shard must be I/K with 0 <= I < K, e.g. 0/2, got {text!r}")
    return pair


def run_fractions_grid(
    dataset: str,
    out: Path | None,
    *,
    quick: bool,
    methods: str | None,
    fractions: str | None,
    regimes: str | None,
    seeds: str | None,
    spaces: str | None,
    weightings: str | None,
    variant_fractions: str | None,
    time_limit: float | None,
    autoattack: bool,
    progress: bool,
    shard: str,
    autoattack_only: bool,
    echo: Callable[[str], None],
) -> None:
    """Validate the options (before loading any data), then run the grid or its AutoAttack
    pass; outputs ``<out>.json``, ``.md``, ``-linf.png``, ``-l2.png``."""
    import math

    from clients.train.curve import CurveConfig, autoattack_pass, quick_config, run_curve
    from clients.train.curve.records import CURVE_METHODS, REGIMES
    from clients.train.fractions import SPACES, WEIGHTINGS, check_fraction
    from clients.train.results import output_stem

    if dataset not in ("mnist", "digits", "auto"):
        raise ValueError(f"unknown dataset {dataset!r}: expected mnist or digits")
    cfg = quick_config() if quick else CurveConfig()
    kw: dict[str, Any] = {}
    if methods is not None:
        kw["methods"] = parse_list("--methods", methods, str, CURVE_METHODS)
    if fractions is not None:
        kw["fractions"] = tuple(
            check_fraction(f) for f in parse_list("--fractions", fractions, float)
        )
    if variant_fractions is not None:
        kw["variant_fractions"] = tuple(
            check_fraction(f) for f in parse_list("--variant-fractions", variant_fractions, float)
        )
    if regimes is not None:
        kw["regimes"] = parse_list("--regimes", regimes, str, REGIMES)
    if seeds is not None:
        kw["seeds"] = parse_list("--seeds", seeds, int)
    if spaces is not None:
        kw["spaces"] = tuple(
            s for s in parse_list("--spaces", spaces, str, SPACES) if s != "pixels"
        )
    if weightings is not None:
        kw["weightings"] = tuple(
            w for w in parse_list("--weightings", weightings, str, WEIGHTINGS) if w != "counts"
        )
    if not autoattack:
        kw["autoattack"] = ()
    cfg = replace(cfg, **kw)  # validated in CurveConfig.__post_init__
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit >= 0):
        raise ValueError(f"--time-limit must be a finite number of seconds >= 0, got {time_limit}")
    stem = output_stem(out or Path("results") / f"{dataset}-curve{'-quick' if quick else ''}")
    if autoattack_only:
        autoattack_pass(dataset, stem, cfg, shard=_shard(shard), echo=echo)
    else:
        run_curve(
            dataset,
            stem,
            cfg,
            shard=_shard(shard),
            time_limit=time_limit,
            progress=progress,
            echo=echo,
        )
    echo(f"wrote {stem}.json, .md, -linf.png and -l2.png")
