from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from clients.train.baselines.dm import (
    DIGITS_DSA,
    DMConfig,
    condense,
    distribution_matching,
    load_dm_set,
    matching_loss,
    save_dm_set,
)
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


def _standardised_loss(X: np.ndarray, y: np.ndarray, syn: np.ndarray, syn_y: np.ndarray) -> float:
    """The paper's objective without augmentation: mean-embedding gap on fixed random
    ConvNets (first conv padded by 3), images standardised as DM learns them."""
    shape = (1, 8, 8)
    mean, std = float(X.mean()), float(X.std())
    real = [torch.from_numpy((X[y == c] - mean) / std).reshape(-1, *shape) for c in range(10)]
    fake = [torch.from_numpy((syn[syn_y == c] - mean) / std).reshape(-1, *shape) for c in range(10)]
    total = 0.0
    for s in range(4):
        torch.manual_seed(2000 + s)
        with torch.no_grad():
            net = ConvNet(shape, 10, width=16, depth=3, first_padding=3)
            total += float(matching_loss(net, real, fake))
    return total / 4


def test_paper_dm_reduces_matching_loss(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    cfg = DMConfig.paper(iterations=40, width=8, batch_real=16)
    (start,) = condense(X, y, 2, (1, 8, 8), replace(cfg, iterations=0))
    (res,) = condense(X, y, 2, (1, 8, 8), cfg)
    assert res.iterations == 40 and len(res.losses) == 40
    assert res.X.shape == (20, 64) and np.array_equal(np.bincount(res.y), np.full(10, 2))
    assert res.X.min() >= 0 and res.X.max() <= 1
    assert not np.array_equal(res.X, start.X)
    before = _standardised_loss(X, y, start.X, start.y)
    after = _standardised_loss(X, y, res.X, res.y)
    assert after < 0.8 * before, (before, after)


def test_sizes_learnt_together_equal_sizes_learnt_alone(
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = digits
    cfg = DMConfig.paper(iterations=4, width=8, batch_real=16)
    both = condense(X, y, [2, 3], (1, 8, 8), cfg)
    (alone,) = condense(X, y, 3, (1, 8, 8), cfg)
    assert np.allclose(both[1].X, alone.X, atol=1e-6)
    assert np.allclose(both[1].losses, alone.losses, rtol=1e-5)


def test_paper_settings_and_validation() -> None:
    cfg = DMConfig.paper()
    assert (cfg.iterations, cfg.lr, cfg.momentum, cfg.batch_real) == (20_000, 1.0, 0.5, 256)
    assert (cfg.width, cfg.depth, cfg.init, cfg.dsa) == (128, 3, "real", DIGITS_DSA)
    assert cfg.standardize and cfg.clip == "end" and not cfg.replace
    legacy = DMConfig.legacy()
    assert legacy.dsa is None and legacy.clip == "step" and not legacy.standardize
    for bad in ({"clip": "never"}, {"init": "zeros"}, {"dsa": "crop_blur"}, {"iterations": -1}):
        with pytest.raises(ValueError):
            DMConfig.paper(**bad)
    # the reference ConvNet: 28x28 padded to 32x32, 4x4x128 features after three poolings
    net = ConvNet((1, 28, 28), 10, width=128, depth=3, first_padding=3)
    assert net.embed(torch.zeros(2, 1, 28, 28)).shape == (2, 128 * 4 * 4)


def test_time_limit_stops_early(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    (res,) = condense(X, y, 2, (1, 8, 8), DMConfig.paper(width=8), time_limit=0.0)
    assert res.iterations == 0 and res.losses == []


def test_dm_set_round_trip_and_tamper(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = digits
    (res,) = condense(X, y, 2, (1, 8, 8), DMConfig.paper(iterations=2, width=8, batch_real=8))
    path = save_dm_set(tmp_path / "dm-b2", res, {"dm": DMConfig.paper().as_dict()})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dm-b2-X.npy",
        "dm-b2-y.npy",
        "dm-b2.json",
    ]
    X2, y2, meta = load_dm_set(path)
    assert np.array_equal(X2, res.X) and np.array_equal(y2, res.y)
    assert meta["iterations_done"] == 2 and meta["dm"]["width"] == 128
    np.save(tmp_path / "dm-b2-X.npy", res.X[::-1].copy())
    with pytest.raises(ValueError, match="fingerprint"):
        load_dm_set(tmp_path / "dm-b2")
