"""cover(): validity against brute force for every metric and method, and input validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import covering
from covering.api import split_budget
from tests.covering.reference import check_cover, pairwise

METRICS = ["l2", "linf", "cosine"]
RADIUS_METHODS = ["greedy", "net", "milp", "kcenter", "auto"]
ETA = {"l2": 0.75, "linf": 0.5, "cosine": 0.08}


@st.composite
def datasets(draw):
    n = draw(st.integers(1, 40))
    d = draw(st.integers(1, 4))
    # a coarse grid: many ties and many pairs exactly at distance eta
    vals = draw(st.lists(st.integers(-4, 4), min_size=n * d, max_size=n * d))
    X = (np.asarray(vals, dtype=np.float64).reshape(n, d) / 4.0) + 0.125
    labelled = draw(st.booleans())
    y = np.asarray(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))) if labelled else None
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return X.astype(dtype), y


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


@pytest.mark.parametrize("metric", METRICS)
@settings(max_examples=12, deadline=None)
@given(data=datasets(), k=st.integers(3, 12))
def test_budget_mode_valid(metric, data, k):
    X, y = data
    n_classes = 1 if y is None else np.unique(y).shape[0]
    k = max(k, n_classes)
    cov = covering.cover(X, y, k=k, metric=metric)
    check_cover(X, y, cov, cov.eta, metric)
    assert cov.size <= k
    assert cov.eta == cov.radius
    D = pairwise(X, metric)
    assert cov.radius == pytest.approx(
        D[np.arange(X.shape[0]), cov.indices[cov.assignment]].max(), abs=1e-9
    )


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


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X": np.array([[np.nan, 1.0]]), "eta": 1.0}, "NaN"),
        ({"X": np.array([[np.inf, 1.0]]), "eta": 1.0}, "NaN or inf"),
        ({"X": np.zeros(5), "eta": 1.0}, "2-D"),
        ({"X": np.zeros((2, 2, 2)), "eta": 1.0}, "2-D"),
        ({"X": np.zeros((0, 3)), "eta": 1.0}, "empty"),
        ({"X": np.zeros((3, 2)), "labels": np.zeros(2, int), "eta": 1.0}, "length"),
        ({"X": np.zeros((3, 2)), "labels": np.array([0.5, 1, 2]), "eta": 1.0}, "integers"),
        ({"X": np.zeros((3, 2)), "labels": np.zeros((3, 1), int), "eta": 1.0}, "1-D"),
        ({"X": np.zeros((3, 2)), "eta": 0.0}, "eta"),
        ({"X": np.zeros((3, 2)), "eta": -1.0}, "eta"),
        ({"X": np.zeros((3, 2)), "eta": float("nan")}, "eta"),
        ({"X": np.zeros((3, 2))}, "exactly one"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "k": 2}, "exactly one"),
        ({"X": np.zeros((3, 2)), "labels": np.array([0, 1, 2]), "k": 2}, "number of classes"),
        ({"X": np.zeros((3, 2)), "k": 0}, "k must be"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "metric": "l3"}, "unknown metric"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "method": "magic"}, "unknown method"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "backend": "tpu"}, "unknown backend"),
        ({"X": np.zeros((3, 2)), "k": 2, "method": "net"}, "budget mode"),
        ({"X": np.array([["a", "b"]]), "eta": 1.0}, "numeric"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "metric": "cosine"}, "zero rows"),
        ({"X": np.ma.masked_array(np.zeros((3, 2))), "eta": 1.0}, "masked"),
        (
            {"X": np.zeros((3, 2)), "labels": np.array([0, 2**63, 1], dtype=np.uint64), "eta": 1.0},
            "int64",
        ),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "seed": "a"}, "seed"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "seed": -1}, "seed"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "seed": 1.5}, "seed"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    X = kwargs.pop("X")
    with pytest.raises(ValueError, match=match):
        covering.cover(X, **kwargs)


def test_gpu_backend_without_gpu_is_a_clear_error(monkeypatch):
    import covering.gpu

    monkeypatch.setattr(covering.gpu, "gpu_available", lambda: False)  # runs on GPU boxes too
    with pytest.raises(ValueError, match="GPU"):
        covering.cover(np.zeros((3, 2)), eta=1.0, backend="gpu")


@given(k=st.integers(1, 500), sizes=st.lists(st.integers(1, 300), min_size=1, max_size=12))
def test_split_budget(k, sizes):
    sizes_a = np.asarray(sizes)
    if k < len(sizes):
        with pytest.raises(ValueError):
            split_budget(k, sizes_a)
        return
    share = split_budget(k, sizes_a)
    assert share.sum() <= k
    assert np.all(share >= 1) and np.all(share <= sizes_a)
    if k <= sizes_a.sum():
        assert share.sum() == k


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


def test_huge_k_means_every_row():
    X = np.random.default_rng(0).normal(size=(100, 3))
    for k in (100, 2**63 - 1, 10**30):
        cov = covering.cover(X, k=k)
        assert cov.size == 100 and cov.radius == 0.0
    y = np.repeat([0, 1, 2], [30, 30, 40])
    assert covering.cover(X, y, k=10**30).size == 100


def test_budget_follows_the_spread_not_the_class_sizes():
    # one large tight class and ten small spread ones: centres belong where the spread is
    from covering.solvers import allocate_budget, kcenter_cover

    rng = np.random.default_rng(0)
    X = np.concatenate(
        [rng.normal(size=(900, 4)) * 0.01]
        + [rng.normal(size=(10, 4)) * 100 + c * 1000 for c in range(1, 11)]
    )
    y = np.repeat(np.arange(11), [900] + [10] * 10)
    classes = [X[y == c] for c in range(11)]
    share = allocate_budget(classes, 100, "l2")
    assert share.sum() == 100 and share.min() >= 1 and share[0] < 10
    proportional = split_budget(100, np.bincount(y))
    worst = max(
        float(kcenter_cover(Z, int(b), "l2")[2].max())
        for Z, b in zip(classes, proportional, strict=True)
    )
    cov = covering.cover(X, y, k=100)
    check_cover(X, y, cov, cov.eta, "l2")
    assert cov.size <= 100 and cov.radius < 0.25 * worst
