"""``covering.size_curve`` and ``covering.eta_for_size``: sizes equal the engine's own radius
mode, exact target sizes, verified covers, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import covering
from covering import eta_for_size, size_curve


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from covering.data import load_digits

    X, y = load_digits()
    return X[:600], y[:600]


def test_curve_sizes_equal_cover_in_radius_mode(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    etas = [0.9, 1.2, 1.5, 2.2]
    curve = size_curve(X, y, etas)
    assert list(curve.etas) == etas
    for eta, size in zip(curve.etas, curve.sizes, strict=True):
        ref = covering.cover(X, y, eta=float(eta), method="greedy", lower_bound=False)
        assert size == ref.size
    assert np.array_equal(curve.class_sizes.sum(axis=0), curve.sizes)
    assert list(curve.class_counts) == list(np.bincount(y))
    assert all(a >= b for a, b in zip(curve.sizes, curve.sizes[1:], strict=False))
    d = curve.to_dict()
    assert d["sizes"] == [int(s) for s in curve.sizes] and d["n"] == 600


def test_curve_without_labels_and_default_range(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = digits
    curve = size_curve(X, num=5)
    assert curve.etas.shape == (5,) and list(curve.classes) == [-1]
    assert np.isclose(curve.etas[-1] / curve.etas[0], 4.0)
    assert curve.sizes[0] > curve.sizes[-1] >= 1
    assert curve.eta_for(int(curve.sizes[-1])) == pytest.approx(curve.etas[-1])
    assert curve.eta_for(0) is None


@pytest.mark.parametrize("size", [10, 37, 120, 333, 599, 600])
def test_eta_for_size_hits_the_size(digits: tuple[np.ndarray, np.ndarray], size: int) -> None:
    X, y = digits
    cov = eta_for_size(X, y, size)
    assert cov.size == size and cov.k is None and cov.method == "greedy"
    covering.verify(X, cov, y)  # every row within eta of a same-label centre
    assert cov.radius <= cov.eta
    assert any("target" in n for n in cov.notes)


def test_eta_for_size_is_near_the_smallest_radius(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    size, rtol = 120, 1e-3
    cov = eta_for_size(X, y, size, rtol=rtol)
    below = covering.cover(X, y, eta=cov.eta / (1 + 4 * rtol), method="greedy", lower_bound=False)
    at = covering.cover(X, y, eta=cov.eta, method="greedy", lower_bound=False)
    assert at.size <= size  # the radius found admits the size (with a top-up)
    assert below.size > at.size - 5  # and a clearly smaller radius does not do much better


def test_eta_for_size_unlabelled_and_labels_fingerprint_as_given(
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = digits
    cov = eta_for_size(X, None, 50)
    assert cov.size == 50 and cov.labels is None
    y8 = y.astype(np.uint8)
    cov8 = eta_for_size(X, y8, 50)
    assert cov8.labels_fingerprint == covering.fingerprint(y8)
    assert covering.Manifest.from_cover(cov8).params.eta == pytest.approx(cov8.eta)


def test_eta_for_size_with_repeated_rows_says_why() -> None:
    X = np.repeat(np.arange(5, dtype=np.float64)[:, None], 4, axis=0)  # 5 distinct rows, 4 times
    cov = eta_for_size(X, None, 20)
    assert cov.size == 5
    assert any("only 5 distinct centres" in n for n in cov.notes)


@pytest.mark.parametrize(
    ("size", "msg"),
    [
        (5, "smaller than the number of classes"),
        (601, "exceeds"),
        (2.5, "integer"),
        (True, "integer"),
    ],
)
def test_eta_for_size_bad_size(
    digits: tuple[np.ndarray, np.ndarray], size: object, msg: str
) -> None:
    X, y = digits
    with pytest.raises(ValueError, match=msg):
        eta_for_size(X, y, size)  # type: ignore[arg-type]


def test_bad_inputs(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    with pytest.raises(ValueError, match="rtol"):
        eta_for_size(X, y, 50, rtol=0)
    with pytest.raises(ValueError, match="metric"):
        eta_for_size(X, y, 50, metric="l3")
    with pytest.raises(ValueError, match="finite number > 0"):
        size_curve(X, y, [1.0, -1.0])
    with pytest.raises(ValueError, match="empty"):
        size_curve(X, y, [])
    with pytest.raises(ValueError, match="NaN"):
        size_curve(np.full((3, 2), np.nan), None, [1.0])
    with pytest.raises(ValueError, match="num"):
        size_curve(X, y, num=1)


@pytest.mark.parametrize("seed", [-1, 2**31, 1.5, True, "0"])
def test_bad_seed_is_a_value_error(digits: tuple[np.ndarray, np.ndarray], seed: object) -> None:
    X, y = digits
    with pytest.raises(ValueError, match="seed"):
        eta_for_size(X, y, 50, seed=seed)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        size_curve(X, y, [1.0], seed=seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("index", ["hnsw", None, ["flat"]])
def test_bad_index_is_a_value_error(digits: tuple[np.ndarray, np.ndarray], index: object) -> None:
    X, y = digits
    with pytest.raises(ValueError, match="index"):
        eta_for_size(X, y, 50, index=index)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="index"):
        size_curve(X, y, [1.0], index=index)  # type: ignore[arg-type]


def test_start_guess_on_a_pool_is_close_to_the_full_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    # the starting radius from a pool of rows (large classes) stays near the guess from all rows
    from covering import sizing

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 8)).astype(np.float32)
    y = np.repeat(np.arange(2), 1500)
    cls = sizing._Classes(X, y, "l2")
    full = sizing._guess_eta(cls, 60, 0)
    monkeypatch.setattr(sizing, "_POOL", 500)
    pooled = sizing._guess_eta(cls, 60, 0)
    assert pooled != full  # the pool path ran
    assert abs(pooled - full) / full < 0.1
    res = eta_for_size(X, y, 60)  # and the search still lands on the size
    assert res.size == 60
    covering.verify(X, res, y)
