"""Exact distances stay exact where float64 squares under- or overflow; pow2 scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from covering.metrics import exact_distances, pow2_scale, prepare


@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e-30, 1.0, 1e30, 1e170, 1e300])
def test_l2_and_linf_match_math_at_every_scale(scale: float) -> None:
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(50, 6)) * scale, rng.normal(size=(50, 6)) * scale
    l2 = exact_distances(A, B, "l2")
    ref = np.array([math.dist(a, b) for a, b in zip(A, B, strict=True)])  # robust in CPython
    np.testing.assert_allclose(l2, ref, rtol=1e-14)
    np.testing.assert_array_equal(exact_distances(A, B, "linf"), np.abs(A - B).max(axis=1))


def test_unchanged_in_the_normal_range() -> None:
    # the rescaled recomputation only touches rows at risk: elsewhere, the plain formula
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(100, 5)), rng.normal(size=(100, 5))
    d = A - B
    np.testing.assert_array_equal(exact_distances(A, B, "l2"), np.sqrt(np.einsum("ij,ij->i", d, d)))


def test_overflowing_difference_is_inf_and_zero_stays_zero() -> None:
    A = np.array([[1.7e308], [5e-324], [2.0]])
    B = np.array([[-1.7e308], [5e-324], [2.0]])
    out = exact_distances(A, B, "l2")
    assert out[0] == np.inf and out[1] == 0.0 and out[2] == 0.0
    assert exact_distances(A, B, "linf")[0] == np.inf


def test_cosine_prepare_at_extreme_scales() -> None:
    X = np.array([[1.0, 1.0], [1.0, 2.0]])
    for s in (1e-170, 1e200):
        np.testing.assert_allclose(prepare(X * s, "cosine"), prepare(X, "cosine"), rtol=1e-15)
    with pytest.raises(ValueError, match="zero rows"):
        prepare(np.array([[0.0, 0.0], [1.0, 0.0]]), "cosine")


def test_pow2_scale() -> None:
    for m in (5e-324, 1e-170, 0.75, 1.0, 3.0, 1.7e308):
        s = pow2_scale(m)
        assert 1.0 <= m / s < 2.0 and math.frexp(s)[0] == 0.5  # a power of two
    assert pow2_scale(0.0) == 1.0 and pow2_scale(float("inf")) == 1.0
