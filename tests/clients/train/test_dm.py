from __future__ import annotations

import numpy as np
import torch

from clients.train.baselines.dm import distribution_matching, matching_loss
from clients.train.models import ConvNet


def _loss_on_fixed_nets(X: np.ndarray, y: np.ndarray, syn: np.ndarray, syn_y: np.ndarray) -> float:
    shape = (1, 8, 8)
    real = [torch.from_numpy(X[y == c]).reshape(-1, *shape) for c in range(10)]
    fake = [torch.from_numpy(syn[syn_y == c]).reshape(-1, *shape) for c in range(10)]
    total = 0.0
    for s in range(4):
        torch.manual_seed(1000 + s)
        with torch.no_grad():
            total += float(matching_loss(ConvNet(shape, 10, width=16, depth=2), real, fake))
    return total / 4


def test_dm_reduces_matching_loss(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    start = distribution_matching(X, y, 2, (1, 8, 8), iterations=0, width=16, seed=0)
    res = distribution_matching(X, y, 2, (1, 8, 8), iterations=40, width=16, seed=0, batch_real=64)
    assert res.X.shape == (20, 64) and np.array_equal(np.bincount(res.y), np.full(10, 2))
    assert res.X.min() >= 0 and res.X.max() <= 1
    before = _loss_on_fixed_nets(X, y, start.X, start.y)
    after = _loss_on_fixed_nets(X, y, res.X, res.y)
    assert after < 0.7 * before, (before, after)
