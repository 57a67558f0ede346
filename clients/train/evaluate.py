"""Clean and robust accuracy (PGD, AutoAttack when installed) and the cover bound."""

from __future__ import annotations

import importlib
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clients.train.attacks import pgd
from clients.train.config import MAX_RADIUS
from clients.train.data import Dataset, Selection

__all__ = [
    "AA_MIN_CLASSES",
    "MNIST_ATTACKS",
    "AttackSpec",
    "accuracy",
    "autoattack_accuracy",
    "autoattack_available",
    "cover_bound",
    "mean_adv_loss",
    "parse_attacks",
    "robust_accuracy",
    "sample_bound",
]

log = logging.getLogger(__name__)

#: AutoAttack's targeted DLR loss compares the 4 largest logits
AA_MIN_CLASSES = 4


@dataclass(frozen=True)
class AttackSpec:
    """A PGD threat model: ``norm`` in {linf, l2} and radius ``eps``."""

    norm: str
    eps: float

    @property
    def name(self) -> str:
        """E.g. ``pgd-linf-0.3``."""
        return f"pgd-{self.norm}-{self.eps:g}"


#: the MNIST evaluation grid of the issue
MNIST_ATTACKS = tuple(
    [AttackSpec("linf", e) for e in (0.1, 0.2, 0.3)]
    + [AttackSpec("l2", e) for e in (1.0, 1.5, 2.0)]
)


def parse_attacks(text: str) -> list[AttackSpec]:
    """``"linf:0.1,0.3;l2:1.5"`` -> attack specs (each eps a finite number >= 0)."""
    out: list[AttackSpec] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        norm, _, eps_list = part.partition(":")
        if norm not in ("linf", "l2") or not eps_list:
            raise ValueError(f"bad attack list {part!r}: expected e.g. linf:0.1,0.3;l2:1.5")
        for e in eps_list.split(","):
            try:
                eps = float(e) if "_" not in e else math.nan
            except ValueError:
                eps = math.nan
            if math.isnan(eps):
                raise ValueError(f"bad attack radius {e!r}: expected a number, e.g. 0.3")
            if not 0 <= eps <= MAX_RADIUS:
                raise ValueError(
                    f"attack eps must be >= 0 and finite (<= {MAX_RADIUS:g}), got {eps:g}"
                )
            out.append(AttackSpec(norm, eps))
    if not out:
        raise ValueError(f"no attack in {text!r}: expected e.g. linf:0.1,0.3;l2:1.5")
    return out


@torch.no_grad()
def _correct(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return model(X).argmax(1) == y


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Clean accuracy on (X (n, C, H, W), y (n,))."""
    model.eval()
    hits = sum(
        int(_correct(model, X[i : i + batch_size], y[i : i + batch_size]).sum())
        for i in range(0, X.shape[0], batch_size)
    )
    return hits / max(X.shape[0], 1)


def robust_accuracy(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    attacks: list[AttackSpec] | tuple[AttackSpec, ...],
    *,
    steps: int = 20,
    restarts: int = 1,
    batch_size: int = 500,
    seed: int = 0,
    nested: bool = False,
) -> dict[str, float]:
    """Accuracy under each PGD attack (name -> fraction of ``X`` still classified right).

    Only examples still correct are attacked (clean errors count as failures). With
    ``nested``, the radii of one norm are attacked in increasing order and an example broken
    at a radius counts as broken at every larger one (its adversarial example lies in the
    larger ball too), so only the survivors are attacked again: the same or a stronger
    estimate, at a fraction of the cost."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, float] = {}
    alive: dict[str, torch.Tensor] = {}
    order = sorted(attacks, key=lambda s: (s.norm, s.eps)) if nested else list(attacks)
    for spec in order:
        survive = torch.zeros(X.shape[0], dtype=torch.bool)
        for i in range(0, X.shape[0], batch_size):
            xb, yb = X[i : i + batch_size], y[i : i + batch_size]
            ok = _correct(model, xb, yb)
            if nested and spec.norm in alive:
                ok &= alive[spec.norm][i : i + batch_size]
            if ok.any():
                adv = pgd(
                    model,
                    xb[ok],
                    yb[ok],
                    eps=spec.eps,
                    norm=spec.norm,
                    steps=steps,
                    restarts=restarts,
                    generator=gen,
                )
                hit = torch.zeros_like(ok)
                hit[ok] = _correct(model, adv, yb[ok])
                survive[i : i + batch_size] = hit
        alive[spec.norm] = survive
        out[spec.name] = int(survive.sum()) / max(X.shape[0], 1)
    return {spec.name: out[spec.name] for spec in attacks}


def _autoattack_class() -> Any:
    for mod in ("pyautoattack", "autoattack"):
        try:
            return importlib.import_module(mod).AutoAttack
        except ImportError:
            continue
    return None


def autoattack_available() -> bool:
    """True when ``pyautoattack`` (extra ``[eval]``) or ``autoattack`` is importable."""
    return _autoattack_class() is not None


def autoattack_accuracy(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    norm: str,
    eps: float,
    *,
    version: str = "standard",
    attacks: list[str] | None = None,
    batch_size: int = 500,
    seed: int = 0,
    n_target_classes: int | None = None,
) -> float:
    """Robust accuracy under AutoAttack on (X (n, C, H, W), y (n,)).

    ``version="standard"``: APGD-CE, APGD-T (9 targets), FAB-T, Square (5,000 queries).
    ``version="custom"``: the given ``attacks`` (default APGD-CE and APGD-T), one restart,
    ``n_target_classes`` targets for the targeted ones (default 9)."""
    cls = _autoattack_class()
    if cls is None:
        raise ValueError("AutoAttack is not installed: pip install 'covering[eval]'")
    model.eval()
    aa_norm = {"linf": "Linf", "l2": "L2"}[norm]
    kwargs: dict[str, Any] = {"norm": aa_norm, "eps": eps, "version": version, "seed": seed}
    if version == "custom":
        kwargs["attacks"] = attacks or ["apgd-ce", "apgd-t"]
    try:
        aa = cls(model, device="cpu", **kwargs)
    except TypeError:  # the original (non-PyPI) autoattack signature
        aa = cls(model, norm=aa_norm, eps=eps, version=version, seed=seed)
        if version == "custom":
            aa.attacks_to_run = kwargs["attacks"]
    aa.verbose = False
    if version == "custom":
        aa.apgd.n_restarts = 1
    with torch.no_grad():
        n_out = int(model(X[:1]).shape[1])
    if n_out < AA_MIN_CLASSES:
        raise ValueError(
            f"AutoAttack's targeted DLR loss needs at least {AA_MIN_CLASSES} classes, the model "
            f"has {n_out}"
        )
    targets = min(n_target_classes or 9, n_out - 1)  # no more targets than other classes
    for attack in ("apgd_targeted", "fab"):
        if hasattr(aa, attack):
            getattr(aa, attack).n_target_classes = targets
    logging.getLogger("auto-attack").setLevel(logging.WARNING)
    try:
        res = aa.run_standard_evaluation(X, y, batch_size=batch_size)
    except TypeError:
        res = aa.run_standard_evaluation(X, y, bs=batch_size)
    x_adv = res[0] if isinstance(res, tuple) else res
    if norm == "linf":
        assert float((x_adv - X).abs().max()) <= eps + 1e-5
    return accuracy(model, x_adv, y)


def mean_adv_loss(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor | None,
    *,
    eps: float,
    norm: str,
    steps: int = 20,
    restarts: int = 1,
    batch_size: int = 500,
    seed: int = 0,
) -> float:
    """(Weighted) mean cross-entropy at PGD adversarial examples of radius ``eps``:
    ``sum(w_i * l_i) / sum(w_i)`` (plain mean when ``weights`` is None)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    num = den = 0.0
    for i in range(0, X.shape[0], batch_size):
        xb, yb = X[i : i + batch_size], y[i : i + batch_size]
        adv = pgd(model, xb, yb, eps=eps, norm=norm, steps=steps, restarts=restarts, generator=gen)
        with torch.no_grad():
            per = F.cross_entropy(model(adv), yb, reduction="none").double()
        w = torch.ones_like(per) if weights is None else weights[i : i + batch_size].double()
        num += float((w * per).sum())
        den += float(w.sum())
    return num / den


def cover_bound(
    model: nn.Module,
    centres: torch.Tensor,
    centre_y: torch.Tensor,
    weights: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    eta: float,
    norm: str,
    steps: int = 20,
    restarts: int = 1,
    seed: int = 0,
) -> dict[str, float | bool]:
    """The cover bound for a trained model.

    For a cover of radius ``eta`` (in the attack norm, or L2 for an L-inf attack, since
    ``||.||_inf <= ||.||_2``), every ``eps``-ball around a training point lies inside the
    ``(eps + eta)``-ball around its centre, so the full-data adversarial loss at ``eps`` is at
    most the weighted cover loss at ``eps + eta`` (both estimated with PGD here).

    Returns
    -------
    dict with ``cover_loss`` (weighted, radius eps+eta), ``full_loss`` (mean over ``X``, radius
    eps), ``eps``, ``eta``, ``holds`` (bool: cover_loss >= full_loss).
    """
    cl = mean_adv_loss(
        model,
        centres,
        centre_y,
        weights,
        eps=eps + eta,
        norm=norm,
        steps=steps,
        restarts=restarts,
        seed=seed,
    )
    fl = mean_adv_loss(
        model, X, y, None, eps=eps, norm=norm, steps=steps, restarts=restarts, seed=seed
    )
    return {"cover_loss": cl, "full_loss": fl, "eps": eps, "eta": eta, "holds": bool(cl >= fl)}


def sample_bound(
    model: nn.Module,
    data: Dataset,
    sel: Selection,
    *,
    n: int,
    eps: float,
    norm: str,
    steps: int,
    rng: np.random.Generator,
    seed: int = 0,
) -> dict[str, float | bool]:
    """:func:`cover_bound` for the cover ``sel`` of ``data`` (``sel.eta`` set), the full-data
    side estimated on ``n`` training rows drawn by ``rng`` without replacement."""
    from clients.train.trainer import to_images

    if sel.eta is None:
        raise ValueError("the bound needs a cover radius (sel.eta)")
    rows = rng.choice(len(data.y_train), size=min(n, len(data.y_train)), replace=False)
    return cover_bound(
        model,
        to_images(sel.X, data.shape),
        torch.from_numpy(sel.y),
        torch.as_tensor(sel.weights),
        to_images(data.X_train[rows], data.shape),
        torch.from_numpy(data.y_train[rows]),
        eps=eps,
        eta=sel.eta,
        norm=norm,
        steps=steps,
        seed=seed,
    )
