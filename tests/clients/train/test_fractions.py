"""Training sets at a fraction: stratification exact to the row, matched counts, weightings."""

from __future__ import annotations

import numpy as np
import pytest

from clients.train.fractions import (
    check_fraction,
    cover_at_size,
    matched_subset,
    stratified_counts,
    stratified_subset,
    training_weights,
)


def _y(sizes: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(sizes)), sizes)


@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.05, 0.2, 0.4, 0.77, 1.0])
def test_stratified_counts_sum_and_proportion(fraction: float) -> None:
    sizes = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # MNIST train
    y = _y(sizes)
    counts = stratified_counts(y, fraction)
    total = max(10, round(fraction * y.shape[0]))
    assert counts.sum() == total
    assert np.all(counts >= 1) and np.all(counts <= sizes)
    share = np.asarray(sizes) * total / sum(sizes)
    assert np.all(np.abs(counts - share) < 1 + 1e-9)


def test_stratified_counts_small_classes() -> None:
    y = _y([1, 1, 98])
    assert list(stratified_counts(y, 0.03)) == [1, 1, 1]
    assert list(stratified_counts(y, 0.1)) == [1, 1, 8]
    assert list(stratified_counts(y, 1.0)) == [1, 1, 98]


def test_stratified_subset_exact_per_class_and_seeded() -> None:
    y = _y([50, 30, 20])
    rows = stratified_subset(y, 0.2, seed=3)
    assert list(np.bincount(y[rows])) == [10, 6, 4]
    assert np.unique(rows).shape == rows.shape
    assert np.array_equal(rows, stratified_subset(y, 0.2, seed=3))
    assert not np.array_equal(rows, stratified_subset(y, 0.2, seed=4))


def test_matched_subset_counts() -> None:
    y = _y([50, 30, 20])
    rows = matched_subset(y, np.array([2, 17, 1]), seed=0)
    assert list(np.bincount(y[rows])) == [2, 17, 1]
    with pytest.raises(ValueError, match="class counts"):
        matched_subset(y, np.array([1, 2]), seed=0)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), float("inf"), "0.1", True, None])
def test_check_fraction_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="fraction"):
        check_fraction(bad)


def test_training_weights() -> None:
    c = np.array([1, 4, 9, 16])
    w, s = training_weights(c, "counts")
    assert s is False and np.array_equal(w, c)
    assert training_weights(c, "none") == (None, False)
    w, s = training_weights(c, "sampler")
    assert s is True and np.array_equal(w, c)
    w, s = training_weights(c, "sqrt")
    assert s is False and np.allclose(w, np.array([1, 2, 3, 4]) / 2.5) and np.isclose(w.mean(), 1)
    with pytest.raises(ValueError, match="weighting"):
        training_weights(c, "log")


def test_cover_at_size_caches_and_reverifies(tmp_path, digits) -> None:  # type: ignore[no-untyped-def]
    X, y = digits
    a = cover_at_size(X, y, 90, cache=tmp_path)
    assert a.indices.shape == (90,) and a.weights.sum() == y.shape[0] and a.seconds > 0
    b = cover_at_size(X, y, 90, cache=tmp_path)
    assert b.seconds == 0 and np.array_equal(a.indices, b.indices) and b.eta == a.eta
    # a tampered cache is caught by the exact re-verification
    (path,) = tmp_path.glob("cover-*.npz")
    with np.load(path) as f:
        arrays = dict(f)
    arrays["indices"] = arrays["indices"][:-1]
    arrays["weights"] = arrays["weights"][:-1]
    np.savez(path, **arrays)
    with pytest.raises(ValueError):
        cover_at_size(X, y, 90, cache=tmp_path)


def test_stratified_cover_keeps_the_class_balance(digits) -> None:  # type: ignore[no-untyped-def]
    import covering
    from clients.train.fractions import stratified_cover

    X, y = digits
    counts = stratified_counts(y, 0.1)
    cov = stratified_cover(X, y, counts)
    assert list(np.bincount(y[cov.indices])) == list(counts)
    assert cov.weights.sum() == y.shape[0]
    # every row within the largest class radius of a centre of its class (exact check)
    covering.verify_centres(X, cov.indices, cov.eta, "l2", labels=y)
    assert cov.radius <= cov.eta
