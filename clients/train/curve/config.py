"""The fraction grid's definition: its one recipe (:class:`CurveConfig`), its runs
(:class:`Point`, :func:`plan`) and how many optimiser steps each run gets (:func:`steps_of`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from clients.train.curve.records import CURVE_METHODS, REGIMES, curve_key
from clients.train.fractions import SPACES, WEIGHTINGS, check_fraction

__all__ = ["CurveConfig", "Point", "plan", "quick_config", "record_config", "steps_of"]

#: settings that describe the grid, not one run (left out of a record's config)
_GRID_FIELDS = (
    "fractions",
    "methods",
    "regimes",
    "seeds",
    "variant_fractions",
    "weightings",
    "spaces",
    "dm_fractions",
    "autoattack_methods",
    "autoattack_fractions",
)


@dataclass(frozen=True)
class CurveConfig:
    """The fraction grid and its one training/evaluation recipe.

    The grid: ``methods`` at every fraction in both ``regimes`` for every seed; the cover's
    extra ``weightings`` and ``spaces`` at ``variant_fractions``; ``dm`` at
    ``dm_fractions``. The recipe: every run trains the same model with PGD (``attack_steps``,
    ``train_eps``) in batches of ``batch_size``; ``full_steps`` optimiser steps for the full
    data, and for every run in regime ``steps``; in regime ``epochs`` a subset of ``m`` rows
    gets ``full_steps * m / n`` steps (the same number of passes over its data).
    """

    fractions: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
    methods: tuple[str, ...] = (
        "mfc",
        "random",
        "mfc_stratified",
        "random_matched",
        "kcenter",
        "full",
    )
    regimes: tuple[str, ...] = REGIMES
    seeds: tuple[int, ...] = (0, 1, 2)
    variant_fractions: tuple[float, ...] = (0.05, 0.2)
    weightings: tuple[str, ...] = ("none", "sampler", "sqrt")
    spaces: tuple[str, ...] = ("pca", "embedding")
    dm_fractions: tuple[float, ...] = (0.01,)
    autoattack_methods: tuple[str, ...] = ("mfc", "random", "full")
    autoattack_fractions: tuple[float, ...] = (0.05, 0.2)
    # the recipe
    model: str = "cnn"
    width: int | None = None
    train_eps: float = 0.3
    train_norm: str = "linf"
    attack_steps: int = 5
    eps_warmup: float = 0.3
    batch_size: int = 100
    full_steps: int = 300
    lr: float = 1e-3
    eval_n: int = 1000
    pgd_steps: int = 20
    pgd_restarts: int = 1
    nested_eval: bool = True
    attacks: tuple[tuple[str, float], ...] = (
        ("linf", 0.1),
        ("linf", 0.2),
        ("linf", 0.3),
        ("l2", 1.0),
        ("l2", 1.5),
        ("l2", 2.0),
    )
    autoattack: tuple[tuple[str, float], ...] = (("linf", 0.3), ("l2", 1.5))
    autoattack_n: int = 1000
    autoattack_version: str = "standard"
    cover_metric: str = "l2"
    pca_dims: int = 50
    embed_steps: int = 600
    embed_seed: int = 0
    dm_iterations: int = 100
    dm_width: int = 32
    dm_batch_real: int = 64
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in (*self.fractions, *self.variant_fractions, *self.dm_fractions):
            check_fraction(f)
        for name, values, known in (
            ("method", self.methods, CURVE_METHODS),
            ("regime", self.regimes, REGIMES),
            ("weighting", self.weightings, WEIGHTINGS),
            ("space", self.spaces, SPACES),
        ):
            bad = [v for v in values if v not in known]
            if bad:
                raise ValueError(f"unknown {name}(s) {', '.join(bad)}: expected {', '.join(known)}")
        if not self.seeds or any(not 0 <= s < 2**31 for s in self.seeds):
            raise ValueError("seeds must be integers in [0, 2**31), at least one")
        if not self.attacks:
            raise ValueError("no PGD attack in the grid: robust accuracy needs at least one")


def quick_config() -> CurveConfig:
    """A grid that runs in a few minutes on 2 CPU cores (digits or MNIST): a check of the
    machinery, not evidence."""
    return CurveConfig(
        fractions=(0.05, 0.2),
        methods=("mfc", "random", "random_matched", "kcenter", "full"),
        seeds=(0, 1),
        variant_fractions=(0.2,),
        weightings=("sqrt",),
        spaces=("pca",),
        dm_fractions=(),
        autoattack=(),
        full_steps=40,
        batch_size=64,
        eval_n=200,
        pgd_steps=10,
        attacks=(("linf", 0.1), ("linf", 0.3), ("l2", 1.5)),
        pca_dims=20,
        embed_steps=40,
    )


def record_config(cfg: CurveConfig, seed: int) -> dict[str, Any]:
    """A record's ``config``: the recipe (everything but the grid's lists) and the seed."""
    out = {k: v for k, v in asdict(cfg).items() if k not in _GRID_FIELDS}
    out["seed"] = seed
    return json.loads(json.dumps(out))  # tuples -> lists, as read back from JSON


@dataclass(frozen=True)
class Point:
    """One run of the grid."""

    method: str
    fraction: float
    regime: str
    seed: int
    space: str = "pixels"
    weighting: str = "none"

    def key(self, dataset: str, cfg: CurveConfig) -> tuple[Any, ...]:
        """The :func:`curve_key` its record will have."""
        return curve_key(
            {**asdict(self), "dataset": dataset, "config": record_config(cfg, self.seed)}
        )

    def label(self) -> str:
        return (
            f"{self.method} {100 * self.fraction:g}% {self.regime} seed {self.seed}"
            + ("" if self.space == "pixels" else f" {self.space}")
            + (
                ""
                if self.weighting == ("counts" if self.method.startswith("mfc") else "none")
                else f" {self.weighting}"
            )
        )


def plan(cfg: CurveConfig) -> list[Point]:
    """Every run of the grid, most informative first: covers against stratified random (and
    full data) over all fractions, seed by seed; then the other regime's; then the cover's
    weightings and spaces; then class-stratified covers; then matched random and k-center;
    then DM."""
    out: list[Point] = []
    mfc = "mfc" in cfg.methods

    def add(p: Point) -> None:
        if p not in out:
            out.append(p)

    for regime in cfg.regimes:
        for seed in cfg.seeds:
            if "full" in cfg.methods and regime == "steps":
                add(Point("full", 1.0, "steps", seed))
            for f in cfg.fractions:
                if mfc:
                    add(Point("mfc", f, regime, seed, weighting="counts"))
                if "random" in cfg.methods:
                    add(Point("random", f, regime, seed))
                if "full" in cfg.methods and regime == "epochs":
                    add(Point("full", f, "epochs", seed))
    if mfc:
        for regime in cfg.regimes:
            for seed in cfg.seeds:
                for f in cfg.variant_fractions:
                    for w in cfg.weightings:
                        add(Point("mfc", f, regime, seed, weighting=w))
                    for s in cfg.spaces:
                        add(Point("mfc", f, regime, seed, space=s, weighting="counts"))
    for regime in cfg.regimes:
        for seed in cfg.seeds:
            for f in cfg.fractions:
                if "mfc_stratified" in cfg.methods:
                    add(Point("mfc_stratified", f, regime, seed, weighting="counts"))
    for regime in cfg.regimes:
        for seed in cfg.seeds:
            for f in cfg.fractions:
                for m in ("random_matched", "kcenter"):
                    if m in cfg.methods and (m != "random_matched" or mfc):
                        add(Point(m, f, regime, seed))
    for regime in cfg.regimes:
        for seed in cfg.seeds:
            for f in cfg.dm_fractions:
                add(Point("dm", f, regime, seed))
    return out


def steps_of(p: Point, n_train: int, n: int, cfg: CurveConfig) -> int:
    """Optimiser steps of run ``p``: ``full_steps`` in regime ``steps``; in regime ``epochs``
    the same number of passes over its ``n_train`` rows as the full run makes over ``n``
    (``full`` at fraction f: the steps of an f subset, on all the data)."""
    if p.regime == "steps":
        return cfg.full_steps
    share = p.fraction if p.method == "full" else n_train / n
    return max(1, round(cfg.full_steps * share))
