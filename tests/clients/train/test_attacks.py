from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.train.attacks import pgd, project


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(16, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3)
    )


MODEL = _model()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    eps=st.floats(0.0, 3.0),
    norm=st.sampled_from(["linf", "l2"]),
    steps=st.integers(0, 4),
    restarts=st.integers(1, 2),
    batch=st.integers(1, 6),
)
def test_pgd_stays_in_ball_and_range(
    seed: int, eps: float, norm: str, steps: int, restarts: int, batch: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, 4, 4, generator=g)
    x[0, 0, 0, 0] = 0.0  # corners of the box
    x[-1, 0, 0, 1] = 1.0
    y = torch.randint(0, 3, (batch,), generator=g)
    MODEL.train()
    adv = pgd(MODEL, x, y, eps=eps, norm=norm, steps=steps, restarts=restarts, generator=g)
    assert MODEL.training, "PGD must restore the model's mode"
    assert adv.shape == x.shape and not adv.requires_grad
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    d = (adv - x).flatten(1)
    size = d.abs().max(1).values if norm == "linf" else d.norm(dim=1)
    assert float(size.max()) <= eps * (1 + 1e-5) + 1e-6


def test_pgd_uses_eval_mode() -> None:
    seen: list[bool] = []

    class Spy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = _model()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(self.training)
            out: torch.Tensor = self.inner(x)
            return out

    m = Spy().train()
    pgd(m, torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), eps=0.1, steps=2)
    assert seen and not any(seen) and m.training


def test_pgd_increases_loss() -> None:
    x = torch.rand(32, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    y = MODEL(x).argmax(1)
    ce = torch.nn.functional.cross_entropy
    adv = pgd(MODEL, x, y, eps=0.5, steps=10, norm="linf")
    with torch.no_grad():
        assert float(ce(MODEL(adv), y)) > float(ce(MODEL(x), y)) + 0.05


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_matches_torchattacks(norm: str) -> None:
    torchattacks = pytest.importorskip("torchattacks", reason="dev dependency")
    x = torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(3))
    if norm == "linf":
        ref = torchattacks.PGD(MODEL, eps=0.2, alpha=0.05, steps=7, random_start=False)
        eps, alpha = 0.2, 0.05
    else:
        ref = torchattacks.PGDL2(MODEL, eps=1.0, alpha=0.25, steps=7, random_start=False)
        eps, alpha = 1.0, 0.25
    theirs = ref(x, y)
    ours = pgd(MODEL, x, y, eps=eps, norm=norm, steps=7, alpha=alpha, random_start=False)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)


def test_project_and_bad_input() -> None:
    d = torch.full((2, 1, 2, 2), 3.0)
    assert float(project(d, "l2", 1.0).flatten(1).norm(dim=1).max()) == pytest.approx(1.0)
    assert float(project(d, "linf", 0.5).max()) == 0.5
    with pytest.raises(ValueError, match="eps must be >= 0"):
        pgd(MODEL, torch.rand(1, 1, 4, 4), torch.tensor([0]), eps=-0.1)
    with pytest.raises(ValueError, match="unknown norm"):
        pgd(MODEL, torch.rand(1, 1, 4, 4), torch.tensor([0]), eps=0.1, norm="l1")


def test_autoattack_targets_no_more_classes_than_exist(
    tiny_model: torch.nn.Module, caplog: pytest.LogCaptureFixture
) -> None:
    from clients.train.evaluate import accuracy, autoattack_accuracy, autoattack_available

    if not autoattack_available():
        pytest.skip("the [eval] extra (pyautoattack) is not installed")
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(12, 1, 4, 4, generator=g), torch.randint(0, 4, (12,), generator=g)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    with caplog.at_level(logging.WARNING):
        acc = autoattack_accuracy(model, X, y, "linf", 0.1, version="custom")
    assert 0 <= acc <= accuracy(model, X, y)
    assert "target classes" not in caplog.text
    with pytest.raises(ValueError, match="at least 4 classes"):
        autoattack_accuracy(tiny_model, X[:4], y[:4] % 3, "linf", 0.1, version="custom")
