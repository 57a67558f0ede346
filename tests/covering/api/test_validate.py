"""cover()'s input validation: a ValueError naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

import covering


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X": np.array([[np.nan, 1.0]]), "eta": 1.0}, "NaN"),
        ({"X": np.array([[np.inf, 1.0]]), "eta": 1.0}, "NaN or inf"),
        ({"X": np.zeros(5), "eta": 1.0}, "2-D"),
        ({"X": np.zeros((2, 2, 2)), "eta": 1.0}, "2-D"),
        ({"X": np.zeros((0, 3)), "eta": 1.0}, "empty"),
        ({"X": np.zeros((3, 2)), "labels": np.zeros(2, int), "eta": 1.0}, "length"),
        ({"X": np.zeros((3, 2)), "labels": np.array([0.5, 1, 2]), "eta": 1.0}, "integers"),
        ({"X": np.zeros((3, 2)), "labels": np.zeros((3, 1), int), "eta": 1.0}, "1-D"),
        ({"X": np.zeros((3, 2)), "eta": 0.0}, "eta"),
        ({"X": np.zeros((3, 2)), "eta": -1.0}, "eta"),
        ({"X": np.zeros((3, 2)), "eta": float("nan")}, "eta"),
        ({"X": np.zeros((3, 2))}, "exactly one"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "k": 2}, "exactly one"),
        ({"X": np.zeros((3, 2)), "labels": np.array([0, 1, 2]), "k": 2}, "number of classes"),
        ({"X": np.zeros((3, 2)), "k": 0}, "k must be"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "metric": "l3"}, "unknown metric"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "method": "magic"}, "unknown method"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "backend": "tpu"}, "unknown backend"),
        ({"X": np.zeros((3, 2)), "k": 2, "method": "net"}, "budget mode"),
        ({"X": np.array([["a", "b"]]), "eta": 1.0}, "numeric"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "metric": "cosine"}, "zero rows"),
        ({"X": np.ma.masked_array(np.zeros((3, 2))), "eta": 1.0}, "masked"),
        (
            {"X": np.zeros((3, 2)), "labels": np.array([0, 2**63, 1], dtype=np.uint64), "eta": 1.0},
            "int64",
        ),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "seed": "a"}, "seed"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "seed": -1}, "seed"),
        ({"X": np.zeros((3, 2)), "eta": 1.0, "seed": 1.5}, "seed"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    X = kwargs.pop("X")
    with pytest.raises(ValueError, match=match):
        covering.cover(X, **kwargs)


def test_gpu_backend_without_gpu_is_a_clear_error(monkeypatch):
    import covering.gpu

    monkeypatch.setattr(covering.gpu, "gpu_available", lambda: False)  # runs on GPU boxes too
    with pytest.raises(ValueError, match="GPU"):
        covering.cover(np.zeros((3, 2)), eta=1.0, backend="gpu")
