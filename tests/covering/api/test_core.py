"""cover(): validity against brute force for every metric and method; progress, dtypes, scale."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import covering
from covering.api import METHODS
from covering.api.methods import REGISTRY
from tests.covering.api.strategies import METRICS, datasets
from tests.covering.reference import check_cover

RADIUS_METHODS = ["greedy", "net", "milp", "kcenter", "auto"]
ETA = {"l2": 0.75, "linf": 0.5, "cosine": 0.08}


def test_methods_are_the_registry_and_all_run_here():
    assert METHODS == tuple(REGISTRY) == ("auto", "greedy", "net", "milp", "kcenter")
    assert sorted(RADIUS_METHODS) == sorted(METHODS)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("method", RADIUS_METHODS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets(), scale=st.sampled_from([0.5, 1.0, 2.0]))
def test_radius_mode_valid(metric, method, data, scale):
    X, y = data
    eta = ETA[metric] * scale
    cov = covering.cover(X, y, eta=eta, metric=metric, method=method, time_limit=5)
    check_cover(X, y, cov, eta, metric)
    assert cov.n == X.shape[0] and cov.dim == X.shape[1]
    if cov.lower_bound is not None:
        assert cov.lower_bound <= cov.size


def test_fewer_centres_than_net_on_clusters():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 0.2, (100, 5)) for c in range(5)])
    g = covering.cover(X, eta=1.0, method="greedy")
    n = covering.cover(X, eta=1.0, method="net")
    assert g.size <= n.size
    assert g.lower_bound is not None and g.lower_bound <= g.size


def test_labels_never_mixed():
    X = np.zeros((10, 2))
    y = np.array([0, 1] * 5)
    cov = covering.cover(X, y, eta=1.0)
    assert cov.size == 2
    assert sorted(cov.labels.tolist()) == [0, 1]


def test_memmap_and_float16(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.random((200, 6)).astype(np.float16)
    p = tmp_path / "x.npy"
    np.save(p, X)
    Xm = np.load(p, mmap_mode="r")
    cov = covering.cover(Xm, eta=0.5)
    check_cover(X, None, cov, 0.5, "l2")
    assert cov.dtype == "float16"
    assert cov.fingerprint == covering.fingerprint(X)


def test_cancel_through_progress_callback():
    class Stop(Exception):
        pass

    def cb(stage, done, total):
        raise Stop

    with pytest.raises(Stop):
        covering.cover(np.random.default_rng(0).random((50, 3)), eta=0.3, progress=cb)


def test_progress_reports_stages():
    seen = []
    covering.cover(
        np.random.default_rng(0).random((50, 3)),
        eta=0.3,
        progress=lambda s, d, t: seen.append((s, d, t)),
    )
    stages = {s for s, _, _ in seen}
    assert {"graph", "solve", "verify"} <= stages
    assert all(0 <= d <= t for _, d, t in seen)


@pytest.mark.parametrize("metric", ["l2", "linf", "cosine"])
@pytest.mark.parametrize("exponent", [-600, -70, 70, 600])
def test_cover_is_scale_invariant(metric, exponent):
    """Scaling X and eta by a power of two changes no decision: the same cover, far beyond
    float32's range (squares of 1e20 overflow it, of 1e-20 vanish) and float64's squares."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    eta = ETA[metric] if metric == "cosine" else 0.8
    s = 2.0**exponent
    ref = covering.cover(X, eta=eta, metric=metric)
    got = covering.cover(X * s, eta=eta if metric == "cosine" else eta * s, metric=metric)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.assignment, ref.assignment)
    assert got.lower_bound == ref.lower_bound and got.optimal == ref.optimal
    assert got.radius == pytest.approx(ref.radius * (1.0 if metric == "cosine" else s))


def test_tiny_values_are_not_rounded_to_zero():
    # squares of 1e-170 underflow float64: the distance must not
    T = np.array([[0.0], [1e-170], [3e-170]])
    cov = covering.cover(T, eta=1e-170)
    centre = T[cov.indices[cov.assignment], 0]
    assert np.all(np.abs(T[:, 0] - centre) <= 1e-170)
    assert cov.size == 2 and cov.radius == pytest.approx(1e-170)
