"""Shared fixtures: tiny models and digits covers (torch is optional: skip without it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training client needs torch ([train] extra)")


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from covering.data import load_dataset

    return load_dataset("digits", "train")


@pytest.fixture(scope="session")
def digits_manifest(
    tmp_path_factory: pytest.TempPathFactory, digits: tuple[np.ndarray, np.ndarray]
) -> Path:
    """A labelled radius-mode cover of the digits training rows, as a manifest file."""
    import covering
    from covering.cli import write_manifest

    X, y = digits
    cov = covering.cover(X, y, eta=1.6, seed=0)
    path = tmp_path_factory.mktemp("cover") / "digits.json"
    write_manifest(path, cov)
    return path


@pytest.fixture
def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(16, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3)
    )
