"""The exact solver matches a brute-force optimum on small instances; bounds never exceed it."""

from __future__ import annotations

import numpy as np
import pytest

import covering
from covering.graph import eta_graph
from covering.metrics import prepare
from covering.solvers import greedy_cover, lower_bound, milp_cover
from tests.covering.reference import check_cover, optimum


def _instances():
    rng = np.random.default_rng(42)
    for trial in range(12):
        n = int(rng.integers(20, 46))
        d = int(rng.integers(2, 4))
        X = rng.random((n, d))
        eta = float(rng.uniform(0.2, 0.45))
        y = rng.integers(0, 2, n) if trial % 2 else None
        yield X, y, eta


@pytest.mark.parametrize("case", list(_instances()))
def test_milp_equals_brute_force_optimum(case):
    X, y, eta = case
    cov = covering.cover(X, y, eta=eta, method="milp", time_limit=30)
    check_cover(X, y, cov, eta, "l2")
    opt = optimum(X, y, eta, "l2")
    assert cov.size == opt
    assert cov.optimal is True
    assert cov.lower_bound is not None and cov.lower_bound <= opt
    greedy = covering.cover(X, y, eta=eta, method="greedy")
    assert greedy.size >= opt
    assert greedy.lower_bound is not None and greedy.lower_bound <= opt


def test_milp_timeout_returns_feasible_cover():
    rng = np.random.default_rng(3)
    X = rng.random((900, 6))
    Z = prepare(X, "l2")
    g = eta_graph(Z, 0.45, "l2")
    warm = greedy_cover(g)
    res = milp_cover(g, time_limit=0.01, warm_start=warm)
    assert not res.solver_optimal
    assert res.centres.shape[0] <= warm.shape[0]
    cov = covering.cover(X, eta=0.45, method="milp", time_limit=0.01)
    assert cov.optimal is False
    assert any("time limit" in note for note in cov.notes)
    check_cover(X, None, cov, 0.45, "l2")


def test_lower_bound_certified_and_below_greedy():
    rng = np.random.default_rng(5)
    X = rng.random((400, 3))
    g = eta_graph(prepare(X, "l2"), 0.2, "l2")
    lb, kind, lp = lower_bound(g)
    assert kind in ("lp", "degree", "packing")
    assert lp is not None and lb >= np.floor(lp.value - 1e-6)
    assert lb <= greedy_cover(g).shape[0]
    lb_deg, kind_deg, _ = lower_bound(g, method="degree")
    assert kind_deg in ("degree", "packing") and lb_deg <= lb
