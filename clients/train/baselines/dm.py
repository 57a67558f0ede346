"""Distribution matching (DM, Zhao & Bilen, WACV 2023): learn ``ipc`` synthetic images per class
so that their mean embedding matches the real class mean under randomly initialised ConvNets.

Two settings share one loop (:func:`condense`):

* :meth:`DMConfig.paper` - the reference implementation's MNIST settings: a fresh ConvNet
  (width 128, depth 3, instance norm, ReLU, average pooling, first conv padded by 3 for one
  channel) per iteration, embedding = the features before the classifier, per-class mean
  embedding matching, differentiable Siamese augmentation (:mod:`clients.train.dsa`, one draw
  per class shared by its real and synthetic batch), 20,000 iterations, SGD (learning rate 1,
  momentum 0.5) on the images, 256 real images per class drawn without replacement, synthetic
  images initialised from real ones; images standardised with the training set's mean and std
  while they are learnt (as the reference's ``Normalize``), mapped back to pixels and clipped
  to [0, 1] once at the end.
* :meth:`DMConfig.legacy` - the simplified DM of the CPU experiment grid
  (:func:`distribution_matching`): no augmentation, pixels in [0, 1] clamped after every
  step, real images drawn with replacement, the ConvNet of :mod:`clients.train.models`.

:func:`save_dm_set` writes a set as ``<stem>-X.npy``, ``<stem>-y.npy`` and ``<stem>.json``
(fingerprints and settings); :func:`load_dm_set` reads it back and checks the fingerprints.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clients.train.baselines.random import check_budget, random_subset
from clients.train.dsa import DSAParams, apply, check_strategy, draw
from clients.train.models import ConvNet

__all__ = [
    "DMConfig",
    "DMResult",
    "condense",
    "distribution_matching",
    "load_dm_set",
    "matching_loss",
    "save_dm_set",
]

log = logging.getLogger(__name__)

#: the reference code's DSA strategy for digit datasets (its README: flip is not used there)
DIGITS_DSA = "color_crop_cutout_scale_rotate"


@dataclass(frozen=True)
class DMConfig:
    """Settings of one DM run (see the module docstring for the two presets).

    Attributes
    ----------
    iterations : int
        Image updates (each with a fresh random ConvNet).
    lr, momentum : float
        SGD on the synthetic images.
    batch_real : int
        Real images per class per iteration (fewer when a class has fewer).
    width : int
        ConvNet channels.
    depth : int or None
        ConvNet blocks; None: 3, or fewer for small images so that the last map stays 2x2
        (the legacy rule).
    first_padding : int or None
        Padding of the first conv; None: 3 for one-channel images, else 1 (the reference).
    dsa : str or None
        DSA strategy (families joined by ``_``), None for no augmentation.
    standardize : bool
        Learn ``(x - mean) / std`` images (channel mean and std of the training set) rather
        than pixels.
    clip : {"end", "step"}
        Clip to [0, 1] once at the end, or clamp after every step.
    replace : bool
        Draw the real batch with replacement (legacy) or without (the reference).
    init : {"real", "noise"}
    seed : int
    """

    iterations: int = 20_000
    lr: float = 1.0
    momentum: float = 0.5
    batch_real: int = 256
    width: int = 128
    depth: int | None = 3
    first_padding: int | None = None
    dsa: str | None = DIGITS_DSA
    dsa_params: DSAParams = field(default_factory=DSAParams)
    standardize: bool = True
    clip: str = "end"
    replace: bool = False
    init: str = "real"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError("DM iterations must be >= 0")
        if self.init not in ("real", "noise"):
            raise ValueError(f"DM init must be real or noise, got {self.init!r}")
        if self.clip not in ("end", "step"):
            raise ValueError(f"DM clip must be end or step, got {self.clip!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)) or not 0 <= self.momentum < 1:
            raise ValueError("DM needs a finite learning rate > 0 and momentum in [0, 1)")
        if self.batch_real < 1 or self.width < 1 or (self.depth is not None and self.depth < 1):
            raise ValueError("DM batch_real, width and depth must be >= 1")
        if self.dsa is not None:
            check_strategy(self.dsa)

    @classmethod
    def paper(cls, **changes: Any) -> DMConfig:
        """The reference implementation's MNIST settings, with ``changes``."""
        return replace(cls(), **changes)

    @classmethod
    def legacy(cls, **changes: Any) -> DMConfig:
        """The simplified DM of the experiment grid, with ``changes``."""
        base = cls(
            iterations=500,
            depth=None,
            first_padding=1,
            dsa=None,
            standardize=False,
            clip="step",
            replace=True,
        )
        return replace(base, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values."""
        return asdict(self)


@dataclass
class DMResult:
    """Synthetic images (flat float32 (m, d) in [0, 1]), labels int64 (m,), the matching
    loss per iteration (``losses``), the iterations run and the seconds they took."""

    X: np.ndarray
    y: np.ndarray
    losses: list[float] = field(default_factory=list)
    iterations: int = 0
    seconds: float = 0.0


def _mean_gap(real_means: list[torch.Tensor], syn: tuple[torch.Tensor, ...]) -> torch.Tensor:
    total = torch.zeros((), device=syn[0].device)
    for a, b in zip(real_means, syn, strict=True):
        total = total + ((a - b.mean(0)) ** 2).sum()
    return total


def matching_loss(net: ConvNet, real: list[torch.Tensor], syn: list[torch.Tensor]) -> torch.Tensor:
    """Sum over classes ``c`` of ``||mean embed(real[c]) - mean embed(syn[c])||^2`` (the
    real side without gradient); ``real[c]`` (b_c, C, H, W), ``syn[c]`` (s_c, C, H, W)."""
    with torch.no_grad():
        er = net.embed(torch.cat(real)).split([r.shape[0] for r in real])
    means = [e.mean(0) for e in er]
    return _mean_gap(means, net.embed(torch.cat(syn)).split([s.shape[0] for s in syn]))


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
    """The experiment grid's simplified DM (:meth:`DMConfig.legacy`) of ``(X (n, d) float32 in
    [0, 1], y (n,))`` at ``ipc`` images per class: no augmentation, pixels clamped to [0, 1]
    after every step (see :func:`condense` for the paper's settings)."""
    cfg = DMConfig.legacy(
        iterations=iterations,
        lr=lr,
        batch_real=batch_real,
        width=width,
        depth=depth,
        init=init,
        seed=seed,
    )
    return condense(X, y, ipc, shape, cfg, progress=progress)[0]


def _depth(cfg: DMConfig, shape: tuple[int, int, int]) -> int:
    if cfg.depth is not None:
        return cfg.depth
    return max(1, min(3, min(shape[1:]).bit_length() - 2))


def condense(
    X: np.ndarray,
    y: np.ndarray,
    ipc: int | list[int],
    shape: tuple[int, int, int],
    cfg: DMConfig,
    *,
    device: str | torch.device = "cpu",
    time_limit: float | None = None,
    progress: bool = False,
) -> list[DMResult]:
    """Condense ``(X (n, d) float32 in [0, 1], y (n,))`` to ``ipc`` images per class.

    Several sizes (``ipc`` a list) are learnt together: every iteration draws one random
    ConvNet, one real batch per class and one augmentation per class, and updates each
    synthetic set against them, so the costly real embedding is computed once for all sizes.
    Each set sees the same sequence of networks, batches and augmentations as a run of its own.

    Parameters
    ----------
    X, y : training rows (n, d) in [0, 1] and labels (n,)
    ipc : int or list of int
        Images per class of each set.
    shape : (C, H, W) of one image
    cfg : DMConfig
    device : torch device of the computation
    time_limit : float, optional
        Stop after this many seconds (the iterations done are in the results).
    progress : bool
        A tqdm bar.

    Returns
    -------
    One :class:`DMResult` per size, in the order of ``ipc``.
    """
    from tqdm import tqdm

    sizes = [ipc] if isinstance(ipc, int) else list(ipc)
    if not sizes:
        raise ValueError("no DM set size given")
    classes = check_budget(y, max(sizes))
    for s in sizes:
        check_budget(y, s)
    dev = torch.device(device)
    n_cls, depth = len(classes), _depth(cfg, shape)
    first_padding = cfg.first_padding
    if first_padding is None:
        first_padding = 3 if shape[0] == 1 else 1
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).reshape(-1, *shape)
    if cfg.standardize:
        flat = Xt.transpose(0, 1).reshape(shape[0], -1).double()
        mean, std = flat.mean(1).float(), flat.std(1).float()
    else:
        mean, std = torch.zeros(shape[0]), torch.ones(shape[0])
    mean, std = mean.view(1, -1, 1, 1).to(dev), std.view(1, -1, 1, 1).to(dev)
    Xt = (Xt.to(dev) - mean) / std
    syns, labels = [], []
    for s in sizes:
        rows = random_subset(y, s, cfg.seed)
        lab = y[rows]
        order = np.argsort(lab, kind="stable")
        rows, lab = rows[order], lab[order]
        if cfg.init == "real":
            start = Xt[torch.from_numpy(rows).to(dev)]
        elif cfg.standardize:  # the reference: Gaussian noise in the standardised space
            start = torch.randn((len(rows), *shape), generator=gen, device=dev)
        else:
            rng = np.random.default_rng(cfg.seed)
            start = torch.from_numpy(rng.random((len(rows), *shape)).astype(np.float32)).to(dev)
        syns.append(start.clone().requires_grad_(True))
        labels.append(lab.astype(np.int64))
    opt = torch.optim.SGD(syns, lr=cfg.lr, momentum=cfg.momentum)
    real_rows = [torch.from_numpy(np.flatnonzero(y == c)).to(dev) for c in classes]
    k_real = [min(cfg.batch_real, len(r)) for r in real_rows]
    g_real = torch.arange(n_cls, device=dev).repeat_interleave(torch.tensor(k_real, device=dev))
    g_syn = [torch.arange(n_cls, device=dev).repeat_interleave(s) for s in sizes]
    lo, hi = (0 - mean) / std, (1 - mean) / std
    losses: list[list[torch.Tensor]] = [[] for _ in sizes]
    t0 = time.perf_counter()
    done = 0
    for it in tqdm(range(cfg.iterations), desc="DM", disable=not progress, leave=False):
        if time_limit is not None and it % 10 == 0 and time.perf_counter() - t0 > time_limit:
            log.info("DM: time limit reached after %d iterations", it)
            break
        with dev:
            net = ConvNet(shape, n_cls, width=cfg.width, depth=depth, first_padding=first_padding)
        net.train()
        for p in net.parameters():
            p.requires_grad_(False)
        picks = [
            torch.randint(len(r), (k,), generator=gen, device=dev)
            if cfg.replace
            else torch.randperm(len(r), generator=gen, device=dev)[:k]
            for r, k in zip(real_rows, k_real, strict=True)
        ]
        real = Xt[torch.cat([r[p] for r, p in zip(real_rows, picks, strict=True)])]
        d = None if cfg.dsa is None else draw(cfg.dsa, n_cls, shape[1:], gen, cfg.dsa_params)
        with torch.no_grad():
            if d is not None:
                real = apply(real, d, g_real, cfg.dsa_params)
            real_means = [e.mean(0) for e in net.embed(real).split(k_real)]
        opt.zero_grad(set_to_none=True)
        for j, (syn, s) in enumerate(zip(syns, sizes, strict=True)):
            x = syn if d is None else apply(syn, d, g_syn[j], cfg.dsa_params)
            loss = _mean_gap(real_means, net.embed(x).split(s))
            loss.backward()
            losses[j].append(loss.detach())
        opt.step()
        if cfg.clip == "step":
            with torch.no_grad():
                for syn in syns:
                    syn.copy_(torch.maximum(torch.minimum(syn, hi), lo))
        done = it + 1
    seconds = time.perf_counter() - t0
    out = []
    for syn, lab, ls in zip(syns, labels, losses, strict=True):
        pix = (syn.detach() * std + mean).clamp(0.0, 1.0)
        px = pix.reshape(pix.shape[0], -1).cpu().numpy().astype(np.float32)
        vals = torch.stack(ls).cpu().tolist() if ls else []
        out.append(DMResult(px, lab, [float(v) for v in vals], done, seconds))
    return out


#: ``format`` of the JSON beside a saved DM set
DM_FORMAT = "covering-dm-set/1"


def _set_paths(stem: str | Path) -> tuple[Path, Path, Path]:
    stem = Path(stem)
    if stem.suffix == ".json":
        stem = stem.with_suffix("")
    return (
        stem.with_name(stem.name + "-X.npy"),
        stem.with_name(stem.name + "-y.npy"),
        stem.with_name(stem.name + ".json"),
    )


def save_dm_set(stem: str | Path, result: DMResult, info: dict[str, Any] | None = None) -> Path:
    """Write ``<stem>-X.npy`` (float32 (m, d)), ``<stem>-y.npy`` (int64 (m,)) and ``<stem>.json``
    (format, both files' names and :func:`covering.fingerprint`, ``info`` such as the settings
    and the data they were learnt from), each atomically; returns the JSON's path."""
    from covering import fingerprint
    from covering.data import save_npy_atomic
    from covering.io import write_bytes_atomic

    px, py, pj = _set_paths(stem)
    pj.parent.mkdir(parents=True, exist_ok=True)
    X = np.ascontiguousarray(result.X, dtype=np.float32)
    y = np.ascontiguousarray(result.y, dtype=np.int64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"a DM set needs X (m, d) and y (m,), got {X.shape} and {y.shape}")
    save_npy_atomic(px, X)
    save_npy_atomic(py, y)
    meta = {
        "format": DM_FORMAT,
        "X": {"file": px.name, "fingerprint": fingerprint(X), "shape": list(X.shape)},
        "y": {"file": py.name, "fingerprint": fingerprint(y), "shape": list(y.shape)},
        "iterations_done": result.iterations,
        "seconds": result.seconds,
        "loss_first": result.losses[0] if result.losses else None,
        "loss_last": float(np.mean(result.losses[-10:])) if result.losses else None,
        **(info or {}),
    }
    write_bytes_atomic(pj, json.dumps(meta, indent=1, allow_nan=False).encode())
    return pj


def load_dm_set(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(X (m, d) float32 in [0, 1], y (m,) int64, meta)`` of a set written by
    :func:`save_dm_set` (``path``: its JSON or stem); ValueError unless both arrays match
    their fingerprints."""
    from covering import fingerprint
    from covering.data import load_npy

    _, _, pj = _set_paths(path)
    try:
        meta = json.loads(pj.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{pj}: not a DM set ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != DM_FORMAT:
        raise ValueError(f"{pj}: not a DM set (format is not {DM_FORMAT})")
    arrays = []
    for key in ("X", "y"):
        entry = meta[key]
        arr = np.asarray(load_npy(pj.parent / entry["file"], mmap=False))
        if fingerprint(arr) != entry["fingerprint"]:
            raise ValueError(f"{pj.parent / entry['file']}: fingerprint differs from {pj.name}")
        arrays.append(arr)
    X, y = arrays
    if X.ndim != 2 or y.shape != (X.shape[0],) or not (X.min() >= 0 and X.max() <= 1):
        raise ValueError(f"{pj}: X must be (m, d) in [0, 1] with one label per row")
    return X, y, meta
