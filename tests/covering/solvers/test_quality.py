"""Cover quality on real data: greedy within 10% of the proven LP lower bound (MNIST, L2;
scikit-learn digits when the MNIST files are not found)."""

from __future__ import annotations

import numpy as np
import pytest

import covering
from covering.data import default_mnist_dir, load_dataset

pytestmark = pytest.mark.slow  # real MNIST when the files are present


@pytest.mark.parametrize("eta", [5.0, 6.0])
def test_greedy_within_ten_percent_of_lp_bound(eta):
    X, y = load_dataset("auto")
    if default_mnist_dir() is None:  # digits fallback: 64-D pixels in [0, 1]
        eta = eta / 3.5
    rng = np.random.default_rng(0)
    # 500 rows per class (digits, the fallback without the MNIST files, has ~150)
    rows = np.concatenate(
        [
            rng.choice(np.flatnonzero(y == c), min(500, int(np.sum(y == c))), replace=False)
            for c in (0, 2, 8)
        ]
    )
    for c in (0, 2, 8):
        sub = rows[y[rows] == c]
        part = covering.cover(X[sub], eta=eta, method="greedy")
        assert part.lower_bound is not None
        # 10%, or 2 centres on the small covers of the digits fallback (~15 per class)
        slack = max(0.10 * part.lower_bound, 2)
        assert part.size <= part.lower_bound + slack, (c, part.size, part.lower_bound)
