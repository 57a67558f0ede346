"""Adversarial training (PGD) on a weighted training set, seeded, with checkpoints."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clients.train.attacks import pgd
from clients.train.config import TrainConfig

__all__ = ["TrainConfig", "batches", "seed_everything", "to_images", "train", "weighted_loss"]

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_images(X: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    """Flat rows (n, c*h*w) -> float32 tensor (n, c, h, w)."""
    return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).reshape(-1, *shape)


def weighted_loss(
    logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Weighted mean cross-entropy ``sum(w_i * l_i) / sum(w_i)``.

    With integer weights (cover counts) this equals the mean loss over the dataset in which
    each row is repeated ``w_i`` times. ``weights`` None: the plain mean.

    Parameters
    ----------
    logits : Tensor (B, K)
    y : Tensor of int64 (B,)
    weights : Tensor of float (B,), optional
    """
    per = F.cross_entropy(logits, y, reduction="none")
    if weights is None:
        return per.mean()
    w = weights.to(per.dtype)
    return (w * per).sum() / w.sum()


def batches(
    n: int, batch_size: int, steps: int, weights: np.ndarray | None, gen: torch.Generator
) -> Iterator[torch.Tensor]:
    """``steps`` index batches: shuffled passes over ``range(n)``, or, with ``weights``
    (sampler mode), draws with replacement proportional to the weights
    (:class:`torch.utils.data.WeightedRandomSampler`)."""
    if weights is not None:
        from torch.utils.data import WeightedRandomSampler

        sampler = WeightedRandomSampler(
            [float(w) for w in weights],
            num_samples=steps * batch_size,
            replacement=True,
            generator=gen,
        )
        idx = torch.tensor(list(sampler), dtype=torch.int64)
        yield from idx.split(batch_size)
        return
    buf = torch.empty(0, dtype=torch.int64)
    bs = min(batch_size, n)
    for _ in range(steps):
        while buf.numel() < bs:
            buf = torch.cat([buf, torch.randperm(n, generator=gen)])
        yield buf[:bs]
        buf = buf[bs:]


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    weights: np.ndarray | None,
    cfg: TrainConfig,
    *,
    checkpoint: str | Path | None = None,
    progress: bool = False,
) -> list[dict[str, float]]:
    """Adversarially train ``model`` in place on ``(X, y)`` with per-sample ``weights``.

    Parameters
    ----------
    model : nn.Module
    X : Tensor of float32, shape (m, C, H, W), values in [0, 1]
    y : Tensor of int64, shape (m,)
    weights : ndarray of float (m,), optional
        Cover weights (counts); None = uniform.
    cfg : TrainConfig
    checkpoint : path, optional
        File written atomically after every epoch (model, optimiser, epoch, config, and a key
        of the model architecture, data, weights and config). If it exists, training resumes
        from it when its key matches; a checkpoint of another run is refused (``ValueError``),
        never overwritten. Loaded with ``weights_only=True``: it never runs code.
    progress : bool
        A tqdm bar per epoch on stderr.

    Returns
    -------
    list of dict: per epoch ``epoch``, ``loss`` (mean training loss on the attacked batch),
    ``acc`` (accuracy on it), ``eps``.
    """
    from tqdm import tqdm

    m = X.shape[0]
    if m == 0 or y.shape[0] != m:
        raise ValueError(f"training set is empty or X/y differ in length ({m}, {y.shape[0]})")
    if weights is not None and (weights.shape != (m,) or not np.all(weights > 0)):
        raise ValueError("weights must be positive, one per training point")
    gen = seed_everything(cfg.seed)
    steps = cfg.steps_per_epoch or math.ceil(m / cfg.batch_size)
    total = steps * cfg.epochs
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    history: list[dict[str, float]] = []
    start = 0
    ck = Path(checkpoint) if checkpoint is not None else None
    key = _run_key(model, X, y, weights, cfg) if ck is not None else ""
    if ck is not None:
        state = _load_checkpoint(ck, key)
        if state is not None:
            try:
                start, history = _progress(state, cfg.epochs)
                model.load_state_dict(state["model"])
                opt.load_state_dict(state["optimizer"])
                sched.load_state_dict(state["scheduler"])
                gen.set_state(state["generator"])
            except (RuntimeError, TypeError, KeyError, ValueError, IndexError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ValueError(
                    f"{ck} carries this run's key but its state does not load ({first[:200]}): "
                    "remove it or choose another --checkpoint"
                ) from None
            log.info("resuming from %s at epoch %d", ck, start)
    w_t = torch.as_tensor(weights, dtype=torch.float32) if weights is not None else None
    done = start * steps
    for epoch in range(start, cfg.epochs):
        model.train()
        tot_loss = tot_acc = 0.0
        sampler_w = weights if (cfg.sampler and weights is not None) else None
        it = batches(m, cfg.batch_size, steps, sampler_w, gen)
        bar = tqdm(
            it,
            total=steps,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            leave=False,
            disable=not progress,
            unit="batch",
        )
        eps = cfg.eps
        for idx in bar:
            xb, yb = X[idx], y[idx]
            eps = cfg.eps
            if cfg.eps_warmup > 0:
                eps = cfg.eps * min(1.0, (done + 1) / (cfg.eps_warmup * total))
            if eps > 0 and cfg.attack_steps > 0:
                alpha = None if cfg.alpha is None else cfg.alpha * eps / cfg.eps
                xb = pgd(
                    model,
                    xb,
                    yb,
                    eps=eps,
                    norm=cfg.norm,
                    steps=cfg.attack_steps,
                    alpha=alpha,
                    generator=gen,
                )
            logits = model(xb)
            wb = None if (w_t is None or cfg.sampler) else w_t[idx]
            loss = weighted_loss(logits, yb, wb)
            if not torch.isfinite(loss):
                raise ValueError(
                    f"training diverged (loss {float(loss.detach())}) at epoch {epoch + 1}, step "
                    f"{done - epoch * steps + 1}: lower the learning rate or the PGD step"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            tot_loss += float(loss.detach())
            tot_acc += float((logits.argmax(1) == yb).float().mean())
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", eps=f"{eps:.3g}")
        history.append(
            {"epoch": epoch + 1, "loss": tot_loss / steps, "acc": tot_acc / steps, "eps": eps}
        )
        log.info("epoch %d: loss %.4f acc %.3f", epoch + 1, tot_loss / steps, tot_acc / steps)
        if ck is not None:
            state = {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "history": history,
                "epoch": epoch + 1,
                "config": asdict(cfg),
                "key": key,
                "generator": gen.get_state(),
            }
            _save_checkpoint(ck, state)
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise ValueError(
            "training diverged (non-finite model weights): lower the learning rate or the PGD step"
        )
    model.eval()
    return history


def _run_key(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, weights: np.ndarray | None, cfg: TrainConfig
) -> str:
    """SHA-256 of what a checkpoint belongs to: architecture, data, weights and config."""
    h = hashlib.sha256(repr(model).encode())
    h.update(json.dumps(asdict(cfg), sort_keys=True).encode())
    for t in (X, y):
        h.update(str((tuple(t.shape), t.dtype)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    if weights is not None:
        h.update(np.ascontiguousarray(weights, dtype=np.float64).tobytes())
    return h.hexdigest()


def _load_checkpoint(ck: Path, key: str) -> dict[str, Any] | None:
    """The state saved in ``ck`` for the run ``key``; None when there is none yet.

    Raises ``ValueError`` when ``ck`` cannot be written, is not a checkpoint of this trainer,
    or belongs to another run.
    """
    from covering.io import output_problem

    try:
        ck.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"--checkpoint {ck}: {ck.parent} is not a directory") from None
    problem = output_problem(ck)  # fail now, not after the first epoch
    if problem is not None:
        raise ValueError(f"--checkpoint {ck}: {problem}")
    if not ck.exists():
        return None
    try:
        state = torch.load(ck, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (pickle, zip, EOF, runtime) on bad files
        # (torch's own message may advise weights_only=False: never repeat that advice)
        raise ValueError(
            f"{ck} is not a checkpoint written by covering train ({type(exc).__name__}): remove "
            "it or choose another --checkpoint"
        ) from None
    need = {"model", "optimizer", "scheduler", "history", "epoch", "key", "generator"}
    if not isinstance(state, dict) or not need <= state.keys():
        raise ValueError(f"{ck} is not a checkpoint of covering train: remove it or choose another")
    if state["key"] != key:
        raise ValueError(
            f"{ck} belongs to another run (other data, cover, model or training options): "
            "remove it or choose another --checkpoint"
        )
    return state


def _progress(state: dict[str, Any], epochs: int) -> tuple[int, list[dict[str, float]]]:
    """The epoch a checkpoint reached and its history, checked (0 <= epoch <= ``epochs``, one
    history entry of finite numbers per epoch); ``ValueError`` otherwise."""
    epoch, history = state["epoch"], state["history"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= epochs:
        raise ValueError(f"epoch {epoch!r} is not in [0, {epochs}]")
    if not isinstance(history, list) or len(history) != epoch:
        raise ValueError("its history does not have one entry per epoch")
    for h in history:
        if not isinstance(h, dict) or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in h.values()
        ):
            raise ValueError("its history holds something other than finite numbers")
    return epoch, history


def _save_checkpoint(ck: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``ck`` atomically, streamed (:func:`covering.io.open_atomic`)."""
    from covering.io import open_atomic

    with open_atomic(ck) as fh:
        torch.save(state, fh)
