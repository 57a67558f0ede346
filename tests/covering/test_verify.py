"""verify() accepts valid covers and names every kind of violation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import covering
from covering import CoverError, verify, verify_centres


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    X = rng.random((300, 4)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    return X, y, covering.cover(X, y, eta=0.5, method="greedy")


def test_valid(case):
    X, y, cov = case
    verify(X, cov, y)
    verify_centres(X, cov.indices, cov.eta, "l2", y, cov.labels)


def _tamper(cov, **changes):
    return dataclasses.replace(cov, **changes)


def test_detects_radius_violation(case):
    X, y, cov = case
    with pytest.raises(CoverError, match="distance"):
        verify(X, _tamper(cov, eta=cov.radius * 0.5), y)


def test_detects_wrong_label(case):
    X, y, cov = case
    y2 = y.copy()
    y2[cov.indices[0]] = 9
    with pytest.raises(CoverError, match="label"):
        verify(X, cov, y2)


def test_detects_bad_weights_and_indices(case):
    X, y, cov = case
    w = cov.weights.copy()
    w[0] += 1
    with pytest.raises(CoverError, match="weights"):
        verify(X, _tamper(cov, weights=w), y)
    idx = cov.indices.copy()
    idx[1] = idx[0]
    with pytest.raises(CoverError, match="unique"):
        verify(X, _tamper(cov, indices=idx), y)
    with pytest.raises(CoverError, match="labels"):
        verify(X, cov, None)
    with pytest.raises(CoverError, match="shape"):
        verify(X[:10], cov, y[:10])


def test_detects_far_assignment():
    X = np.array([[0.0], [1.0], [10.0]])
    cov = covering.cover(X, eta=1.0)
    a = cov.assignment.copy()
    a[2] = a[0]
    bad = dataclasses.replace(
        cov, assignment=a, weights=np.bincount(a, minlength=cov.size).astype(np.int64)
    )
    with pytest.raises(CoverError, match="row 2"):
        verify(X, bad)


def test_verify_centres_detects_uncovered():
    X = np.array([[0.0], [1.0], [10.0]])
    with pytest.raises(CoverError, match="row 2"):
        verify_centres(X, np.array([0]), 1.0, "l2")


def test_detects_inconsistent_radius_claims(case):
    X, y, cov = case
    with pytest.raises(CoverError, match="records radius"):
        verify(X, _tamper(cov, radius=cov.eta * 2), y)  # a radius past eta
    with pytest.raises(CoverError, match="records radius"):
        verify(X, _tamper(cov, radius=cov.radius / 2), y)  # understated


def test_refuses_non_covers_and_non_integer_labels(case):
    X, y, cov = case
    with pytest.raises(CoverError, match=r"covering\.Cover"):
        verify(X, "foo")  # type: ignore[arg-type]
    with pytest.raises(CoverError, match="integers"):
        verify(X, cov, y + 0.4)
    with pytest.raises(CoverError, match="integers"):
        verify(X, cov, y.astype(str))
