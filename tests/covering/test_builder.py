"""CoverBuilder: valid after every add, refine() close to a one-shot greedy cover."""

from __future__ import annotations

import numpy as np
import pytest

import covering
from covering import CoverBuilder
from covering.data import load_dataset
from tests.covering.reference import check_cover


def test_chunks_stay_valid_and_refine():
    rng = np.random.default_rng(0)
    X = rng.random((1200, 5))
    y = rng.integers(0, 3, 1200)
    b = CoverBuilder(5, 0.5)
    for s in range(0, 1200, 150):
        b.add(X[s : s + 150], y[s : s + 150])
        cov = b.cover()
        check_cover(X[: s + 150], y[: s + 150], cov, 0.5, "l2")
    net_size = b.size
    refined = b.refine()
    check_cover(X, y, refined, 0.5, "l2")
    assert refined.size <= net_size
    # state after refine keeps working
    more = rng.random((100, 5))
    b.add(more, rng.integers(0, 3, 100))
    assert b.cover().n == 1300


@pytest.mark.slow  # real MNIST when the files are present
def test_refine_close_to_one_shot_on_real_data():
    X, y = load_dataset("auto", "train")
    X, y = X[:6000], y[:6000]
    eta = 6.0 if X.shape[1] == 784 else 2.0
    b = CoverBuilder(X.shape[1], eta)
    for part in np.array_split(np.arange(X.shape[0]), 10):
        b.add(X[part], y[part])
    refined = b.refine()
    covering.verify(X, refined, y)
    one_shot = covering.cover(X, y, eta=eta, method="greedy", lower_bound=False)
    assert refined.size <= 1.05 * one_shot.size


def test_from_cover_then_add():
    rng = np.random.default_rng(1)
    X = rng.random((300, 3)).astype(np.float32)
    cov = covering.cover(X, eta=0.3, method="greedy")
    b = CoverBuilder.from_cover(X, cov)
    new = rng.random((30, 3)).astype(np.float32)
    b.add(new)
    out = b.cover()
    check_cover(np.concatenate([X, new]), None, out, 0.3, "l2")
    assert set(cov.indices.tolist()) <= set(out.indices.tolist())


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda b: b.add(np.zeros((2, 4))), "columns"),
        (lambda b: b.add(np.full((2, 3), np.nan)), "NaN"),
        (lambda b: b.cover(), "no rows"),
    ],
)
def test_builder_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(CoverBuilder(3, 1.0))


def test_builder_label_consistency():
    b = CoverBuilder(2, 1.0)
    b.add(np.zeros((2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        b.add(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="eta"):
        CoverBuilder(2, -1.0)


def test_refused_chunk_leaves_the_builder_unchanged():
    b = CoverBuilder(2, 0.01, metric="cosine")
    b.add(np.array([[1.0, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match="zero rows"):
        b.add(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([0, 1]))  # class 1 has a zero row
    assert (b.n, b.size) == (1, 1)
    b.add(np.array([[-1.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))
    cov = b.cover()
    assert cov.size == 3 and cov.radius <= 0.01


def test_labels_fingerprint_follows_the_labels_as_given():
    from covering import fingerprint

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = rng.integers(0, 3, 300).astype(np.uint8)  # e.g. MNIST's labels
    first = covering.cover(X[:200], y[:200], eta=1.0)
    assert first.labels_fingerprint == fingerprint(y[:200])
    b = CoverBuilder.from_cover(X[:200], first, y[:200])
    b.add(X[200:], y[200:])
    assert b.cover().labels_fingerprint == fingerprint(y)  # not of an int64 copy
    chunked = CoverBuilder(4, 1.0).add(X[:150], y[:150]).add(X[150:], y[150:])
    assert chunked.cover().labels_fingerprint == covering.cover(X, y, eta=1.0).labels_fingerprint
