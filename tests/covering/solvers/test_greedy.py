"""Greedy set cover: the eager (argmax) and lazy (heap) variants both follow the greedy rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import covering.solvers.greedy as greedy
from covering.graph import eta_graph


def _replay(g, chosen_in_order, bonus=None):
    """Assert each choice had the largest gain (+ bonus) among all candidates at its time."""
    sets = [set(g.transpose().row(j).tolist()) for j in range(g.n_cols)]
    extra = np.zeros(g.n_cols) if bonus is None else np.clip(bonus, 0, 0.999)
    covered: set[int] = set()
    for j in chosen_in_order:
        keys = [len(s - covered) + extra[c] for c, s in enumerate(sets)]
        assert keys[j] == pytest.approx(max(keys))
        covered |= sets[j]
    assert len(covered) == g.n_rows


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 60), st.floats(0.1, 1.5), st.booleans(), st.integers(0, 2**31 - 1))
def test_lazy_and_eager_follow_the_greedy_rule(n, eta, with_bonus, seed):
    rng = np.random.default_rng(seed)
    g = eta_graph(rng.random((n, 2)) * 3, eta, "l2")
    bonus = rng.random(n) if with_bonus else None
    picks: dict[str, np.ndarray] = {}
    for name, cols, deg in (("lazy", 0, 10**9), ("eager", 10**9, 0)):
        order: list[int] = []
        real = greedy.remove_redundant

        def spy(g_, centres, *, sets=None, _o=order, _r=real):
            _o.extend(int(c) for c in centres)
            return _r(g_, centres, sets=sets)

        old = (greedy.EAGER_MAX_COLS, greedy.EAGER_MIN_DEGREE, greedy.remove_redundant)
        greedy.EAGER_MAX_COLS, greedy.EAGER_MIN_DEGREE, greedy.remove_redundant = cols, deg, spy
        try:
            picks[name] = greedy.greedy_cover(g, bonus=bonus)
        finally:
            greedy.EAGER_MAX_COLS, greedy.EAGER_MIN_DEGREE, greedy.remove_redundant = old
        _replay(g, order, bonus)
        assert set(picks[name].tolist()) <= set(order)  # redundancy removal only drops
    assert np.array_equal(picks["lazy"], picks["eager"])  # the same rule, the same ties
