"""Projected gradient descent (PGD, Madry et al.) in L-inf and L2, inputs in [0, 1].

Random start inside the ball, steps of size ``alpha`` (sign of the gradient for L-inf, the
L2-normalised gradient for L2), projection onto the ``eps``-ball and clipping to ``[lo, hi]``
after every step. The model is put in eval mode while the attack runs and its mode restored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from clients.train.config import NORMS

__all__ = ["NORMS", "default_alpha", "pgd", "project"]


def _check(norm: str, eps: float, steps: int, restarts: int) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}: expected linf or l2")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    if steps < 0 or restarts < 1:
        raise ValueError(f"need steps >= 0 and restarts >= 1, got {steps}, {restarts}")


def default_alpha(norm: str, eps: float, steps: int) -> float:
    """Step size ``2.5 * eps / steps`` (Madry et al.), for ``steps >= 1``."""
    return 2.5 * eps / max(steps, 1)


def _flat_norm(d: torch.Tensor) -> torch.Tensor:
    return d.flatten(1).norm(dim=1).view(-1, *([1] * (d.dim() - 1)))


def project(delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """Project perturbations ``delta`` (B, ...) onto the ``eps``-ball of ``norm``."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = _flat_norm(delta)
    return delta * torch.clamp(eps / (n + 1e-12), max=1.0)


def _random_start(
    x: torch.Tensor, norm: str, eps: float, gen: torch.Generator | None
) -> torch.Tensor:
    if norm == "linf":
        u = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        return (2 * u - 1) * eps
    d = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    r = torch.rand(
        (x.shape[0],) + (1,) * (x.dim() - 1), generator=gen, device=x.device, dtype=x.dtype
    )
    return d / (_flat_norm(d) + 1e-12) * r * eps


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    steps: int = 10,
    alpha: float | None = None,
    restarts: int = 1,
    random_start: bool = True,
    clip: tuple[float, float] = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Adversarial examples maximising the cross-entropy within the ``eps``-ball.

    Parameters
    ----------
    model : nn.Module
        Maps (B, C, H, W) inputs to (B, K) logits.
    x : Tensor of float, shape (B, C, H, W), values in ``clip``
    y : Tensor of int64, shape (B,)
    eps : float
        Radius (>= 0) in ``norm``.
    norm : {"linf", "l2"}
    steps : int
        Gradient steps per restart.
    alpha : float, optional
        Step size; default :func:`default_alpha`.
    restarts : int
        Independent random starts; per example the first one that misclassifies is kept,
        else the one with the highest loss.
    random_start : bool
        Start uniformly in the ball (L-inf) / at a uniform direction and radius (L2); if False
        start at ``x`` (then ``restarts`` > 1 repeats the same run).
    clip : (float, float)
        Valid input range.
    generator : torch.Generator, optional
        Source of the random starts (for reproducibility).

    Returns
    -------
    Tensor, same shape and dtype as ``x``: ``x + delta`` with ``delta`` in the ball and the
    result inside ``clip``.
    """
    _check(norm, eps, steps, restarts)
    a = default_alpha(norm, eps, steps) if alpha is None else float(alpha)
    lo, hi = clip
    was_training = model.training
    model.eval()
    try:
        x = x.detach()
        best = x.clone()
        best_loss = torch.full((x.shape[0],), -float("inf"), device=x.device)
        fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(restarts):
            delta = (
                _random_start(x, norm, eps, generator)
                if random_start and eps > 0
                else torch.zeros_like(x)
            )
            adv = (x + delta).clamp(lo, hi).detach()
            for _ in range(steps):
                adv.requires_grad_(True)
                loss = F.cross_entropy(model(adv), y)
                (grad,) = torch.autograd.grad(loss, adv)
                with torch.no_grad():
                    if norm == "linf":
                        step = a * grad.sign()
                    else:
                        step = a * grad / (_flat_norm(grad) + 1e-12)
                    delta = project(adv + step - x, norm, eps)
                    adv = (x + delta).clamp(lo, hi).detach()
            with torch.no_grad():
                logits = model(adv)
                loss_i = F.cross_entropy(logits, y, reduction="none")
                wrong = logits.argmax(1) != y
                take = (~fooled) & (wrong | (loss_i > best_loss))
                best[take] = adv[take]
                best_loss = torch.where(take, loss_i, best_loss)
                fooled |= wrong
        return best.detach()
    finally:
        model.train(was_training)
