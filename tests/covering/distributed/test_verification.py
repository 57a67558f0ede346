"""Sharded verification (``covering.distributed.verification``) catches an invalid cover."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray")

import covering
from covering.distributed.shards import _Reader, _Shard
from covering.distributed.verification import _verify_sharded
from covering.result import Cover, CoverError


def test_sharded_verification_catches_a_bad_cover() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    shards = [
        _Shard(None, None, 25, _Reader(array=X[:25])),
        _Shard(None, None, 25, _Reader(array=X[25:])),
    ]
    offsets = np.array([0, 25, 50])
    good = covering.cover(X, eta=1.5, method="greedy")
    _verify_sharded(shards, offsets, None, good)
    far = int(np.argmax(np.linalg.norm(X - X[good.indices[0]], axis=1)))
    a = good.assignment.copy()
    a[far] = 0
    bad = Cover(
        indices=good.indices,
        weights=np.bincount(a, minlength=good.size),
        assignment=a,
        labels=None,
        eta=good.eta,
        radius=good.radius,
        metric="l2",
        method="greedy",
        n=50,
        dim=3,
        lower_bound=None,
        fingerprint="",
    )
    with pytest.raises(CoverError, match="distance"):
        _verify_sharded(shards, offsets, None, bad)
    with pytest.raises(CoverError, match="weights"):
        _verify_sharded(
            shards,
            offsets,
            None,
            Cover(
                indices=good.indices,
                weights=good.weights + 1,
                assignment=good.assignment,
                labels=None,
                eta=good.eta,
                radius=good.radius,
                metric="l2",
                method="greedy",
                n=50,
                dim=3,
                lower_bound=None,
                fingerprint="",
            ),
        )
