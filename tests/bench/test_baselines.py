"""``bench.baselines``: farthest-first and the exact MILP baseline give valid covers."""

from __future__ import annotations

import numpy as np
import pytest

import covering
from bench.baselines import farthest_first_cover, milp_baseline
from bench.data import load_named
from covering.verify import assigned_distances

pytestmark = pytest.mark.timeout(60)


def _valid(
    X: np.ndarray, y: np.ndarray, centres: np.ndarray, centre_of: np.ndarray, eta: float
) -> None:
    assert np.all(np.isin(centre_of, centres))
    assert np.all(y[centre_of] == y)
    assert np.all(assigned_distances(X, centre_of, "l2") <= eta)


def test_baselines_valid_on_digits() -> None:
    ds = load_named("digits")
    X, y = np.asarray(ds.X), ds.y
    ff = farthest_first_cover(X, y, 1.5)
    _valid(X, y, ff.centres, ff.centre_of, 1.5)
    sub = np.flatnonzero(y < 3)
    mi = milp_baseline(X[sub], y[sub], 1.5, time_limit=20)
    assert mi is not None and mi.optimal
    _valid(X[sub], y[sub], mi.centres, mi.centre_of, 1.5)
    ours = covering.cover(X[sub], y[sub], eta=1.5, method="greedy", lower_bound=False)
    assert mi.centres.shape[0] <= ours.size
    assert mi.lower_bound == mi.centres.shape[0]


def test_milp_baseline_skips_large_classes() -> None:
    X = np.zeros((7000, 2), dtype=np.float32)
    assert milp_baseline(X, None, 1.0) is None
