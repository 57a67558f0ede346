"""Distribution matching (DM, Zhao & Bilen 2023): learn ``ipc`` synthetic images per class so
that their mean embedding matches the real class mean under randomly initialised ConvNets.

Simplifications against the paper (documented in docs/training.md): no differentiable siamese
augmentation, fewer iterations, and synthetic pixels are clamped to [0, 1] after every step so
that they stay valid inputs for adversarial training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from clients.train.baselines.random import check_budget, random_subset
from clients.train.models import ConvNet

__all__ = ["DMResult", "distribution_matching", "matching_loss"]

log = logging.getLogger(__name__)


@dataclass
class DMResult:
    """Synthetic images (flat float32 (m, d) in [0, 1]), labels int64 (m,), and the matching
    loss per iteration (``losses``)."""

    X: np.ndarray
    y: np.ndarray
    losses: list[float] = field(default_factory=list)


def matching_loss(net: ConvNet, real: list[torch.Tensor], syn: list[torch.Tensor]) -> torch.Tensor:
    """Sum over classes of ``||mean embed(real_c) - mean embed(syn_c)||^2``."""
    sizes_r = [r.shape[0] for r in real]
    sizes_s = [s.shape[0] for s in syn]
    with torch.no_grad():
        er = net.embed(torch.cat(real)).split(sizes_r)
    es = net.embed(torch.cat(syn)).split(sizes_s)
    total = torch.zeros(())
    for a, b in zip(er, es, strict=True):
        total = total + ((a.mean(0) - b.mean(0)) ** 2).sum()
    return total


def distribution_matching(
    X: np.ndarray,
    y: np.ndarray,
    ipc: int,
    shape: tuple[int, int, int],
    *,
    iterations: int = 500,
    lr: float = 1.0,
    batch_real: int = 256,
    width: int = 128,
    depth: int | None = None,
    init: str = "real",
    seed: int = 0,
    progress: bool = False,
) -> DMResult:
    """Condense ``(X (n, d) float32 in [0, 1], y (n,))`` to ``ipc`` images per class.

    Synthetic images start from random real images of their class (``init="real"``, as in the
    paper) or from uniform noise (``init="noise"``) and are optimised with SGD
    (momentum 0.5, learning rate ``lr``) on :func:`matching_loss`, a fresh randomly initialised
    :class:`ConvNet` of ``width`` channels per iteration, ``batch_real`` real images per class.
    ``depth`` defaults to 3 (the papers' ConvNet), fewer for small images so that the last
    feature map stays at least 2x2 before its pooling (8x8 digits: 2).
    """
    from tqdm import tqdm

    classes = check_budget(y, ipc)
    if iterations < 0:
        raise ValueError("DM iterations must be >= 0")
    if init not in ("real", "noise"):
        raise ValueError(f"DM init must be real or noise, got {init!r}")
    if depth is None:
        depth = max(1, min(3, min(shape[1:]).bit_length() - 2))
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    rows = random_subset(y, ipc, seed)
    syn_y = y[rows]
    order = np.argsort(syn_y, kind="stable")
    rows, syn_y = rows[order], syn_y[order]
    start = (
        X[rows] if init == "real" else np.random.default_rng(seed).random((len(rows), X.shape[1]))
    )
    syn = torch.tensor(start.reshape(-1, *shape), dtype=torch.float32, requires_grad=True)
    opt = torch.optim.SGD([syn], lr=lr, momentum=0.5)
    real_rows = [torch.from_numpy(np.flatnonzero(y == c)) for c in classes]
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).reshape(-1, *shape)
    losses: list[float] = []
    for _ in tqdm(range(iterations), desc="DM", disable=not progress, leave=False):
        net = ConvNet(shape, len(classes), width=width, depth=depth)
        net.train()
        for p in net.parameters():
            p.requires_grad_(False)
        real = [
            Xt[r[torch.randint(len(r), (min(batch_real, len(r)),), generator=gen)]]
            for r in real_rows
        ]
        loss = matching_loss(net, real, list(syn.split(ipc)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            syn.clamp_(0.0, 1.0)
        losses.append(float(loss.detach()))
    out = syn.detach().reshape(syn.shape[0], -1).numpy().astype(np.float32)
    return DMResult(out, syn_y.astype(np.int64), losses)
