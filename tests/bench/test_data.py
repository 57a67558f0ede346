"""``bench.data``: the synthetic mixtures are seeded and keep their density as n grows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.data import mixture, write_mixture

pytestmark = pytest.mark.timeout(60)


def test_mixture_is_seeded_and_fixed_density() -> None:
    a, b = mixture(4000, 32, seed=1), mixture(4000, 32, seed=1)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.dtype == np.float32 and a.X.shape == (4000, 32)
    assert not np.array_equal(a.X, mixture(4000, 32, seed=2).X)
    big = mixture(8000, 32, seed=1)  # more rows = more components of 1,000 rows each
    np.testing.assert_array_equal(big.y, (np.arange(8000) // 1000) % 10)
    assert set(np.unique(mixture(20_000, 8).y)) == set(range(10))
    with pytest.raises(ValueError):
        write_mixture(Path("/tmp"), 0, 4)
