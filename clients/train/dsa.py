"""Differentiable Siamese augmentation (DSA, Zhao & Bilen, ICML 2021), as used by distribution
matching: one random transform per group of images, applied identically to every image of the
group, so that a real and a synthetic batch drawn with the same seed are augmented alike, and
differentiable in the images (the gradient reaches the synthetic pixels).

Families and their parameters (those of the reference code's ``ParamDiffAug``):

========  ================================================================================
color     brightness ``x + (b - 0.5) * brightness``, then saturation
          ``(x - mean_c) * s * saturation + mean_c`` (mean over channels: the identity for
          one channel), then contrast ``(x - mean) * (c + contrast) + mean`` (mean over the
          image); ``b, s, c ~ U(0, 1)``
crop      integer translation by ``(tx, ty)``, each uniform in ``[-r, r]`` with
          ``r = int(H * crop_pad + 0.5)``, the uncovered border filled with 0
cutout    a ``(H * cutout) x (W * cutout)`` square (rounded) set to 0, centred at a uniform
          pixel (the square may reach past the border)
flip      horizontal flip with probability ``prob_flip``
scale     ``affine_grid`` with ``diag(sx, sy)``, ``sx, sy ~ U(1 / scale, scale)`` (bilinear,
          zero padding)
rotate    rotation by ``U(-rotate, rotate)`` degrees about the centre (bilinear, zero padding)
========  ================================================================================

A strategy is a ``_``-joined list of families (``"color_crop_cutout_scale_rotate"``); each draw
picks one family of the strategy uniformly (the reference's single mode, ``aug_mode='S'``).
Parameters are drawn from a :class:`torch.Generator` seeded per call, so the same seed gives the
same transform, and the global random state is left alone. Pixels are transformed as given
(the reference works on standardised images, where 0 is the mean pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["FAMILIES", "DSAParams", "Draw", "apply", "augment", "check_strategy", "draw"]

#: the transform families, in the reference's order
FAMILIES = ("color", "crop", "cutout", "flip", "scale", "rotate")


@dataclass(frozen=True)
class DSAParams:
    """Magnitudes of the transforms (defaults: the reference's ``ParamDiffAug``)."""

    prob_flip: float = 0.5
    ratio_scale: float = 1.2
    ratio_rotate: float = 15.0
    ratio_crop_pad: float = 0.125
    ratio_cutout: float = 0.5
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5


@dataclass(frozen=True)
class Draw:
    """Random parameters of ``G`` independent transforms (one per group), each a tensor of
    shape (G,): the chosen ``family`` (an index into ``FAMILIES``) and the parameters of every
    family (only the chosen one is used)."""

    family: torch.Tensor
    brightness: torch.Tensor
    saturation: torch.Tensor
    contrast: torch.Tensor
    tx: torch.Tensor
    ty: torch.Tensor
    cx: torch.Tensor
    cy: torch.Tensor
    flip: torch.Tensor
    sx: torch.Tensor
    sy: torch.Tensor
    angle: torch.Tensor
    #: the families of the strategy (indices into ``FAMILIES``), the only ones ``family`` holds
    strategy: tuple[int, ...] = tuple(range(len(FAMILIES)))

    @property
    def groups(self) -> int:
        """Number of transforms ``G``."""
        return int(self.family.shape[0])


def check_strategy(strategy: str) -> tuple[str, ...]:
    """The families of ``strategy`` (e.g. ``"crop_scale"``); ValueError for unknown ones."""
    parts = tuple(p for p in strategy.split("_") if p)
    bad = [p for p in parts if p not in FAMILIES]
    if not parts or bad:
        raise ValueError(
            f"bad DSA strategy {strategy!r}: join some of {', '.join(FAMILIES)} with '_'"
        )
    return parts


def draw(
    strategy: str,
    groups: int,
    size: tuple[int, int],
    generator: torch.Generator,
    params: DSAParams | None = None,
) -> Draw:
    """Draw ``groups`` transforms of ``strategy`` for images of ``size`` ``(H, W)``.

    The tensors live on the generator's device."""
    p = params or DSAParams()
    dev = generator.device
    h, w = size

    def u() -> torch.Tensor:
        return torch.rand(groups, generator=generator, device=dev)

    def ints(lo: int, hi: int) -> torch.Tensor:  # uniform in [lo, hi]
        return torch.randint(lo, hi + 1, (groups,), generator=generator, device=dev)

    parts = tuple(FAMILIES.index(f) for f in check_strategy(strategy))
    pick = ints(0, len(parts) - 1)
    rx, ry = int(h * p.ratio_crop_pad + 0.5), int(w * p.ratio_crop_pad + 0.5)
    ch, cw = int(h * p.ratio_cutout + 0.5), int(w * p.ratio_cutout + 0.5)
    lo = 1.0 / p.ratio_scale
    return Draw(
        family=torch.tensor(parts, device=dev)[pick],
        brightness=u(),
        saturation=u(),
        contrast=u(),
        tx=ints(-rx, rx),
        ty=ints(-ry, ry),
        # the reference draws the centre in [0, H] for an even square, [0, H - 1] for odd
        cx=ints(0, h - ch % 2),
        cy=ints(0, w - cw % 2),
        flip=u() < p.prob_flip,
        sx=u() * (p.ratio_scale - lo) + lo,
        sy=u() * (p.ratio_scale - lo) + lo,
        angle=(u() - 0.5) * 2 * math.radians(p.ratio_rotate),
        strategy=parts,
    )


def _color(
    x: torch.Tensor, b: torch.Tensor, s: torch.Tensor, c: torch.Tensor, p: DSAParams
) -> torch.Tensor:
    x = x + (b - 0.5) * p.brightness
    m = x.mean(dim=1, keepdim=True)
    x = (x - m) * (s * p.saturation) + m
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * (c + p.contrast) + m


def _translate(x: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """``out[i, j] = x[i + tx, j + ty]``, 0 outside the image (per-row shifts (B,))."""
    n, _, h, w = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev).view(1, h, 1) + tx.view(n, 1, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w) + ty.view(n, 1, 1)
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)
    b = torch.arange(n, device=dev).view(n, 1, 1)
    moved = x.permute(0, 2, 3, 1)[b, rows.clamp(0, h - 1), cols.clamp(0, w - 1)]
    return moved.permute(0, 3, 1, 2) * inside.to(x.dtype)


def _cutout(x: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, p: DSAParams) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * p.ratio_cutout + 0.5), int(w * p.ratio_cutout + 0.5)
    r0, c0 = (cx - ch // 2).view(n, 1, 1), (cy - cw // 2).view(n, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= r0) & (rows < r0 + ch) & (cols >= c0) & (cols < c0 + cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def apply(
    x: torch.Tensor, d: Draw, group: torch.Tensor | None = None, params: DSAParams | None = None
) -> torch.Tensor:
    """Augment ``x`` (B, C, H, W): row ``i`` gets transform ``group[i]`` of ``d``.

    Parameters
    ----------
    x : Tensor (B, C, H, W)
    d : Draw
        From :func:`draw` with the same ``params``.
    group : Tensor of int64 (B,), optional
        The transform of every row (values in ``[0, d.groups)``); default: all rows get
        transform 0.
    params : DSAParams, optional

    Returns
    -------
    Tensor (B, C, H, W), differentiable in ``x``.
    """
    p = params or DSAParams()
    n = x.shape[0]
    g = torch.zeros(n, dtype=torch.int64, device=x.device) if group is None else group
    g = g.to(d.family.device)

    def row(t: torch.Tensor) -> torch.Tensor:
        return t[g].to(x.device)

    fam = row(d.family)
    out = x
    for k in dict.fromkeys(d.strategy):  # every family of the strategy: no device sync
        name = FAMILIES[k]
        if name == "color":
            b, s, c = (row(t).view(n, 1, 1, 1) for t in (d.brightness, d.saturation, d.contrast))
            y = _color(x, b, s, c, p)
        elif name == "crop":
            y = _translate(x, row(d.tx), row(d.ty))
        elif name == "cutout":
            y = _cutout(x, row(d.cx), row(d.cy), p)
        elif name == "flip":
            y = torch.where(row(d.flip).view(n, 1, 1, 1), x.flip(3), x)
        elif name == "scale":
            theta = torch.zeros(n, 2, 3, device=x.device)
            theta[:, 0, 0], theta[:, 1, 1] = row(d.sx), row(d.sy)
            y = _affine(x, theta)
        else:  # rotate
            a = row(d.angle)
            cos, sin = torch.cos(a), torch.sin(a)
            theta = torch.stack(
                [torch.stack([cos, -sin, 0 * a], 1), torch.stack([sin, cos, 0 * a], 1)], 1
            )
            y = _affine(x, theta)
        out = torch.where((fam == k).view(n, 1, 1, 1), y, out)
    return out


def augment(
    x: torch.Tensor,
    strategy: str,
    seed: int,
    params: DSAParams | None = None,
) -> torch.Tensor:
    """One transform of ``strategy``, drawn with ``seed``, applied to every image of ``x``
    (B, C, H, W): two batches augmented with the same seed get the same transform (Siamese)."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    return apply(x, draw(strategy, 1, (x.shape[2], x.shape[3]), gen, params), None, params)
