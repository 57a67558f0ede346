"""Budget mode: valid covers of at most k centres, and how k is split over the classes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import covering
from covering.api import split_budget
from tests.covering.api.strategies import METRICS, datasets
from tests.covering.reference import check_cover, pairwise


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
