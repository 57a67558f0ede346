from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from clients.train import trainer
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


def test_checkpoint_resumes_an_interrupted_run_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = _blobs()
    cfg = TrainConfig(epochs=3, batch_size=16, steps_per_epoch=3, eps=0.05, attack_steps=1, seed=1)
    torch.manual_seed(0)
    whole = build_model("cnn", (1, 8, 8), 2, 4)
    init = {k: v.clone() for k, v in whole.state_dict().items()}
    train(whole, X, y, None, cfg)
    save = trainer._save_checkpoint
    calls = []

    def crash_on_second(ck: Path, state: dict) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        save(ck, state)

    monkeypatch.setattr(trainer, "_save_checkpoint", crash_on_second)
    ck = tmp_path / "ck.pt"
    m = build_model("cnn", (1, 8, 8), 2, 4)
    m.load_state_dict(init)
    with pytest.raises(KeyboardInterrupt):
        train(m, X, y, None, cfg, checkpoint=ck)
    monkeypatch.setattr(trainer, "_save_checkpoint", save)
    assert torch.load(ck, weights_only=True)["epoch"] == 1
    resumed = build_model("cnn", (1, 8, 8), 2, 4)
    hist = train(resumed, X, y, None, cfg, checkpoint=ck)
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    torch.testing.assert_close(resumed(X), whole(X))


def test_checkpoint_of_another_run_is_refused_not_overwritten(tmp_path: Path) -> None:
    X, y = _blobs()
    cfg = TrainConfig(epochs=1, batch_size=16, steps_per_epoch=2, eps=0.0, seed=1)
    ck = tmp_path / "ck.pt"
    train(build_model("cnn", (1, 8, 8), 2, 4), X, y, None, cfg, checkpoint=ck)
    before = ck.read_bytes()
    others = [
        (build_model("cnn", (1, 8, 8), 2, 8), X, y, None, cfg),  # another model
        (build_model("cnn", (1, 8, 8), 2, 4), X.flip(0), y, None, cfg),  # other data
        (build_model("cnn", (1, 8, 8), 2, 4), X, y, np.full(40, 2.0), cfg),  # other weights
    ]
    for model, Xo, yo, w, c in others:
        with pytest.raises(ValueError, match="belongs to another run"):
            train(model, Xo, yo, w, c, checkpoint=ck)
    assert ck.read_bytes() == before


def test_checkpoint_never_runs_code_and_bad_files_are_refused(tmp_path: Path) -> None:
    X, y = _blobs()
    cfg = TrainConfig(epochs=1, batch_size=16, steps_per_epoch=2, eps=0.0, seed=1)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"x": _Evil(str(marker))}, evil)
    junk = {"empty.pt": b"", "text.pt": b"garbage", "json.pt": b'{"model": 1}'}
    for name, data in junk.items():
        (tmp_path / name).write_bytes(data)
    torch.save([1, 2], tmp_path / "list.pt")
    for name in ["evil.pt", *junk, "list.pt"]:
        with pytest.raises(ValueError, match="checkpoint"):
            train(build_model("cnn", (1, 8, 8), 2, 4), X, y, None, cfg, checkpoint=tmp_path / name)
    assert not marker.exists()
    with pytest.raises(ValueError, match="is a directory"):
        train(build_model("cnn", (1, 8, 8), 2, 4), X, y, None, cfg, checkpoint=tmp_path)


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (open, (self.path, "w"))


def test_divergence_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _blobs()
    cfg = TrainConfig(epochs=1, batch_size=16, steps_per_epoch=3, eps=0.0, seed=1)
    real = trainer.weighted_loss
    monkeypatch.setattr(trainer, "weighted_loss", lambda *a: real(*a) * float("nan"))
    with pytest.raises(ValueError, match="training diverged"):
        train(build_model("cnn", (1, 8, 8), 2, 4), X, y, None, cfg)
    monkeypatch.setattr(trainer, "weighted_loss", real)
    model = build_model("cnn", (1, 8, 8), 2, 4)
    model.register_parameter("unused", torch.nn.Parameter(torch.tensor([float("inf")])))
    with pytest.raises(ValueError, match="non-finite model weights"):  # the last step's update
        train(model, X, y, None, cfg)


def test_checkpoint_with_this_runs_key_but_bad_state_is_refused(tmp_path: Path) -> None:
    X, y = _blobs()
    cfg = TrainConfig(epochs=2, batch_size=16, steps_per_epoch=2, eps=0.0, seed=1)
    ck = tmp_path / "ck.pt"
    train(build_model("cnn", (1, 8, 8), 2, 4), X, y, None, cfg, checkpoint=ck)
    good = torch.load(ck, weights_only=True)
    bad = {
        "epoch": -5,
        "history": 5,
        "optimizer": {},
        "model": {"features.0.weight": torch.zeros(1)},
        "generator": torch.zeros(3, dtype=torch.uint8),
    }
    for field, value in bad.items():
        torch.save({**good, field: value}, ck)
        with pytest.raises(ValueError, match="does not load"):
            train(build_model("cnn", (1, 8, 8), 2, 4), X, y, None, cfg, checkpoint=ck)


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="eps must be >= 0"):
        TrainConfig(eps=-1.0)
    with pytest.raises(ValueError, match="unknown norm"):
        TrainConfig(norm="l1")
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", (1, 8, 8), 2)
