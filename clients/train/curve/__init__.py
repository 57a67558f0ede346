"""The fraction grid: where does a cover pay off?

Training sets of 1-40 % of the data (MFC covers found by radius, stratified and matched random
subsets, k-center, DM, full data), two compute regimes (equal optimiser steps, equal epochs),
cover weightings and spaces, several seeds, one recipe. ``covering experiment mnist --grid
fractions`` runs it.

Modules: :mod:`~clients.train.curve.config` (the recipe and the runs),
:mod:`~clients.train.curve.spaces` (pixels, PCA, embedding), :mod:`~clients.train.curve.run`
(one run), :mod:`~clients.train.curve.grid` (the runner and its outputs),
:mod:`~clients.train.curve.records` (the records' schema, tables, plots),
:mod:`~clients.train.curve.cli` (option parsing).
"""

from __future__ import annotations

from clients.train.curve.config import CurveConfig, Point, plan, quick_config, steps_of
from clients.train.curve.grid import autoattack_pass, load_curve, run_curve, write_curve
from clients.train.curve.run import run_point

__all__ = [
    "CurveConfig",
    "Point",
    "autoattack_pass",
    "load_curve",
    "plan",
    "quick_config",
    "run_curve",
    "run_point",
    "steps_of",
    "write_curve",
]
