"""Small labelled data sets for the cover() tests (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

METRICS = ["l2", "linf", "cosine"]


@st.composite
def datasets(draw):
    n = draw(st.integers(1, 40))
    d = draw(st.integers(1, 4))
    # a coarse grid: many ties and many pairs exactly at distance eta
    vals = draw(st.lists(st.integers(-4, 4), min_size=n * d, max_size=n * d))
    X = (np.asarray(vals, dtype=np.float64).reshape(n, d) / 4.0) + 0.125
    labelled = draw(st.booleans())
    y = np.asarray(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))) if labelled else None
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return X.astype(dtype), y
