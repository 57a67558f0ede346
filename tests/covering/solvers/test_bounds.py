"""The lower bounds (``covering.solvers.bounds``): a dual solution is certified exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from covering.graph import Graph
from covering.solvers.bounds import _certify


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["uniform", "tenths", "huge"]),
)
def test_certify_is_exact_and_valid(n: int, m: int, seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    A = rng.random((n, m)) < 0.4
    A[np.arange(n), rng.integers(0, m, size=n)] = True  # every row has a candidate
    _, cols = np.nonzero(A)
    indptr = np.r_[0, np.cumsum(A.sum(axis=1))]
    g = Graph(indptr.astype(np.int64), cols.astype(np.int64), np.zeros(cols.size), m, 1.0)
    y = {"uniform": rng.random(n), "tenths": np.full(n, 0.1), "huge": rng.random(n) * 1e6}[kind]
    got = _certify(y, g.transpose(dist=False))
    # reference in rationals: y clipped to [0, 1], rounded down to the same dyadic grid
    k = 52 - n.bit_length()
    q = [Fraction(int(np.floor(np.ldexp(min(max(v, 0.0), 1.0), k))), 2**k) for v in y]
    load = max(sum((q[i] for i in np.flatnonzero(A[:, j])), Fraction(0)) for j in range(m))
    want = max(1, -(-sum(q, Fraction(0)) // max(Fraction(1), load)))
    assert got == want
    # and the bound never exceeds a cover of the set system (every column set covering rows)
    assert got <= _min_cover(A)


def _min_cover(A: np.ndarray) -> int:
    """Smallest number of columns of ``A`` (bool (n, m), small) covering every row."""
    from itertools import combinations

    m = A.shape[1]
    for size in range(1, m + 1):
        for cols in combinations(range(m), size):
            if A[:, list(cols)].any(axis=1).all():
                return size
    return m
