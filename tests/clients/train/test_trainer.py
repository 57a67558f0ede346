from __future__ import annotations

import numpy as np
import pytest
import torch

from clients.train.models import build_model
from clients.train.trainer import TrainConfig, batches, train, weighted_loss


def test_weighted_loss_equals_mean_over_expanded_dataset() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 4, generator=g)
    y = torch.randint(0, 4, (7,), generator=g)
    w = torch.tensor([1, 5, 2, 1, 9, 3, 1])
    expanded = torch.nn.functional.cross_entropy(
        logits.repeat_interleave(w, 0), y.repeat_interleave(w, 0)
    )
    assert float(weighted_loss(logits, y, w.float())) == pytest.approx(float(expanded), rel=1e-6)
    assert float(weighted_loss(logits, y, None)) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits, y))
    )


def test_sampler_draws_proportional_to_weights() -> None:
    w = np.array([1.0, 1.0, 8.0])
    idx = torch.cat(list(batches(3, 100, 50, w, torch.Generator().manual_seed(0))))
    freq = np.bincount(idx.numpy(), minlength=3) / idx.numel()
    assert freq[2] == pytest.approx(0.8, abs=0.03)


def test_plain_batches_cover_every_row() -> None:
    idx = list(batches(10, 4, 5, None, torch.Generator().manual_seed(0)))
    assert [len(b) for b in idx] == [4] * 5
    assert set(torch.cat(idx[:2]).tolist()) | set(idx[2][:2].tolist()) == set(range(10))


def _blobs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(40) % 2
    X = 0.3 + 0.4 * y.view(-1, 1, 1, 1).float() + 0.05 * torch.randn(40, 1, 8, 8, generator=g)
    return X.clamp(0, 1), y


def test_training_is_seeded_and_learns(tmp_path: object) -> None:
    X, y = _blobs()
    cfg = TrainConfig(
        epochs=2, batch_size=16, steps_per_epoch=10, lr=1e-2, eps=0.05, attack_steps=2, seed=3
    )
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = build_model("cnn", (1, 8, 8), 2, 4)
        hist = train(m, X, y, np.arange(1, 41, dtype=float), cfg)
        outs.append(m(X).detach())
    torch.testing.assert_close(outs[0], outs[1])
    assert hist[-1]["acc"] > 0.9


def test_checkpoint_resume(tmp_path: object) -> None:
    from pathlib import Path

    X, y = _blobs()
    ck = Path(str(tmp_path)) / "ck.pt"
    cfg = TrainConfig(epochs=2, batch_size=16, steps_per_epoch=3, eps=0.0, seed=1)
    torch.manual_seed(0)
    m = build_model("convnet", (1, 8, 8), 2, 4)
    train(m, X, y, None, cfg, checkpoint=ck)
    assert ck.is_file()
    m2 = build_model("convnet", (1, 8, 8), 2, 4)
    hist = train(m2, X, y, None, cfg, checkpoint=ck)  # resumes at the end: no new epoch
    assert len(hist) == 2
    torch.testing.assert_close(m(X), m2(X))


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="eps must be >= 0"):
        TrainConfig(eps=-1.0)
    with pytest.raises(ValueError, match="unknown norm"):
        TrainConfig(norm="l1")
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", (1, 8, 8), 2)
