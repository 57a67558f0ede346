"""The canonical distance: documented order, symmetric and layout-free bit for bit, exact where
float64 squares under- or overflow; pow2 scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covering.metrics import FaissView, exact_distances, pow2_scale, prepare, within


@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e-30, 1.0, 1e30, 1e170, 1e300])
def test_l2_and_linf_match_math_at_every_scale(scale: float) -> None:
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(50, 6)) * scale, rng.normal(size=(50, 6)) * scale
    l2 = exact_distances(A, B, "l2")
    ref = np.array([math.dist(a, b) for a, b in zip(A, B, strict=True)])  # robust in CPython
    np.testing.assert_allclose(l2, ref, rtol=1e-14)
    np.testing.assert_array_equal(exact_distances(A, B, "linf"), np.abs(A - B).max(axis=1))


def _ref_fold(values: list[float]) -> float:
    """The documented summation order of the canonical distance, in plain Python floats."""
    v = list(values)
    while len(v) > 1:
        h = len(v) // 2
        v = [v[k] + v[k + h] for k in range(h)] + ([v[2 * h]] if len(v) % 2 else [])
    return v[0] if v else 0.0


@pytest.mark.parametrize("dim", [1, 2, 5, 31, 64, 784])
def test_canonical_distance_follows_the_documented_formula(dim: int) -> None:
    rng = np.random.default_rng(dim)
    A, B = rng.normal(size=(40, dim)), rng.normal(size=(40, dim))
    l2 = [
        math.sqrt(_ref_fold([(x - y) * (x - y) for x, y in zip(a, b, strict=True)]))
        for a, b in zip(A, B, strict=True)
    ]
    np.testing.assert_array_equal(exact_distances(A, B, "l2"), l2)
    U, V = prepare(A, "cosine"), prepare(B, "cosine")
    cos = [
        1.0 - _ref_fold([x * y for x, y in zip(a, b, strict=True)])
        for a, b in zip(U, V, strict=True)
    ]
    np.testing.assert_array_equal(exact_distances(U, V, "cosine"), cos)


def _check_layouts(A: np.ndarray, B: np.ndarray, metric: str) -> None:
    """The canonical distances of the same pairs agree bit for bit from any position/layout."""
    ref = exact_distances(A, B, metric)
    e = A.shape[0]
    big = np.zeros((2 * e + 3, A.shape[1]))
    big[3::2] = A  # a strided view at an odd offset
    same = {
        "swapped": exact_distances(B, A, metric),
        "fortran": exact_distances(np.asfortranarray(A), np.asfortranarray(B), metric),
        "strided": exact_distances(big[3::2], B, metric),
        "reversed": exact_distances(A[::-1], B[::-1], metric)[::-1],
        "one by one": np.concatenate(
            [exact_distances(A[i : i + 1], B[i : i + 1], metric) for i in range(e)]
        ),
    }
    for name, got in same.items():
        np.testing.assert_array_equal(got, ref, err_msg=name)
    tiled = exact_distances(A, np.tile(B[0], (e, 1)), metric)
    np.testing.assert_array_equal(exact_distances(A, np.broadcast_to(B[0], A.shape), metric), tiled)


@pytest.mark.parametrize("metric", ["l2", "linf", "cosine"])
def test_canonical_distance_is_symmetric_and_layout_free(metric: str) -> None:
    rng = np.random.default_rng(7)
    A, B = rng.normal(size=(500, 64)), rng.normal(size=(500, 64))
    if metric == "cosine":
        A, B = prepare(A, metric), prepare(B, metric)
    _check_layouts(A, B, metric)


@settings(max_examples=60, deadline=None)
@given(
    e=st.integers(1, 12),
    dim=st.integers(1, 70),
    power=st.integers(-60, 60),
    lattice=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    metric=st.sampled_from(["l2", "linf", "cosine"]),
)
def test_canonical_distance_property(
    e: int, dim: int, power: int, lattice: bool, seed: int, metric: str
) -> None:
    rng = np.random.default_rng(seed)
    if lattice:  # exact ties: integer lattices scaled by powers of two, duplicated rows
        A = rng.integers(-3, 4, size=(e, dim)).astype(np.float64) * 2.0**power
        B = A[rng.integers(0, e, size=e)] + rng.integers(-1, 2, size=(e, dim)) * 2.0**power
    else:
        A, B = rng.normal(size=(e, dim)) * 2.0**power, rng.normal(size=(e, dim)) * 2.0**power
    if metric == "cosine":
        A[~A.any(axis=1), 0] = 1.0
        B[~B.any(axis=1), 0] = 1.0
        A, B = prepare(A, metric), prepare(B, metric)
    _check_layouts(A, B, metric)
    np.testing.assert_array_equal(exact_distances(A, A, metric), np.zeros(e))


def test_prepare_is_row_wise() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 50)) * np.exp(rng.uniform(-5, 5, size=(300, 1)))
    P = prepare(X, "cosine")
    np.testing.assert_array_equal(prepare(np.asfortranarray(X), "cosine"), P)
    np.testing.assert_array_equal(
        np.concatenate([prepare(X[i : i + 1], "cosine") for i in range(300)]), P
    )


def test_within_is_the_one_radius_test() -> None:
    d = np.array([0.0, 1.5, np.nextafter(1.5, 2.0), np.nan, np.inf])
    np.testing.assert_array_equal(within(d, 1.5), [True, True, False, False, False])


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


def test_tolerance_bounds_faiss_error():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(500, 64)) * 10
    view = FaissView.of("l2")
    Z32 = Z.astype(np.float32)
    tol = view.tolerance(Z32, 64)
    G32 = (Z32[:, None, :].astype(np.float32) - Z32[None, :, :]).astype(np.float32)
    approx = np.einsum("ijk,ijk->ij", G32, G32, dtype=np.float32).astype(np.float64)
    exact = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    assert np.abs(approx - exact).max() <= tol


def test_pair_tolerance_bounds_faiss_error_per_pair():
    import faiss

    rng = np.random.default_rng(4)
    # rows of very different norms: the per-pair bound must hold for each pair on its own
    Z = rng.normal(size=(400, 300)) * np.exp(rng.uniform(-3, 3, size=(400, 1)))
    Z32 = Z.astype(np.float32)
    approx = faiss.pairwise_distances(Z32, Z32).astype(np.float64)  # FAISS's GEMM formula
    exact = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    sq = np.einsum("ij,ij->i", Z32, Z32, dtype=np.float64)
    bound = FaissView.pair_tolerance(sq[:, None], sq[None, :], 300)
    assert np.all(np.abs(approx - exact) <= bound)
    assert FaissView.of("l2").tolerance(Z32, 300) == pytest.approx(bound.max())
