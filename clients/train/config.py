"""How to train: the options of adversarial training, validated without importing torch (so
the CLI refuses a bad option before it loads any data)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_BATCH", "MAX_LR", "MAX_RADIUS", "NORMS", "TrainConfig"]

#: supported threat models
NORMS = ("linf", "l2")
#: the largest batch (larger ones only exhaust memory, e.g. in sampler mode)
MAX_BATCH = 65536
#: the largest attack radius or PGD step: inputs lie in [0, 1]^d, so any radius past sqrt(d)
#: already spans the whole cube; larger values only overflow float32
MAX_RADIUS = 1e6
#: the largest Adam learning rate (larger ones overflow float32 in the update)
MAX_LR = 1e3


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes
    ----------
    epochs : int
    batch_size : int
    steps_per_epoch : int or None
        Optimiser steps per epoch (default ``ceil(m / batch_size)``).
    lr : float
        Adam learning rate.
    eps : float
        Training attack radius (already ``eps + eta`` when ``--radius bound``); 0 = clean.
    norm : {"linf", "l2"}
    attack_steps : int
        PGD steps during training.
    alpha : float or None
        PGD step size (default ``2.5 * eps / steps``).
    eps_warmup : float
        Fraction of all steps over which eps ramps up linearly from 0 (0 = none).
    sampler : bool
        Draw batches with a ``WeightedRandomSampler`` (weights as probabilities, plain mean
        loss) instead of weighting the per-sample loss.
    seed : int
        In [0, 2**31) (the engine's seed range, so one seed serves a whole experiment).
    """

    epochs: int = 10
    batch_size: int = 128
    steps_per_epoch: int | None = None
    lr: float = 1e-3
    eps: float = 0.3
    norm: str = "linf"
    attack_steps: int = 10
    alpha: float | None = None
    eps_warmup: float = 0.0
    sampler: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}: expected linf or l2")
        if not 0 <= self.eps <= MAX_RADIUS:
            raise ValueError(f"eps must be >= 0 and finite (<= {MAX_RADIUS:g}), got {self.eps}")
        if self.epochs < 1 or self.attack_steps < 0:
            raise ValueError("epochs must be >= 1 and attack steps >= 0")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch size must lie in [1, {MAX_BATCH}], got {self.batch_size}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError("steps per epoch must be >= 1")
        if not 0 <= self.eps_warmup <= 1:
            raise ValueError("eps_warmup must lie in [0, 1]")
        if not 0 < self.lr <= MAX_LR:
            raise ValueError(f"learning rate must be > 0 and finite (<= {MAX_LR:g}), got {self.lr}")
        if self.alpha is not None and not 0 < self.alpha <= MAX_RADIUS:
            raise ValueError(
                f"the PGD step alpha must be > 0 and finite (<= {MAX_RADIUS:g}), got {self.alpha}"
            )
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"seed must lie in [0, 2**31), got {self.seed}")
