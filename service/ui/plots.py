"""Pictures made on the server: a weight histogram and a size-against-eta curve (SVG geometry)
and image thumbnails (PNG).

Nothing here needs a plotting library: the histogram is a few rectangles and the curve a
polyline with its ticks that the templates draw as inline SVG, and a thumbnail is an 8-bit
grayscale PNG (``zlib`` + the PNG chunk layout).
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Bar",
    "CurvePlot",
    "CurvePoint",
    "Histogram",
    "Tick",
    "curve_plot",
    "image_side",
    "png_gray",
    "thumbnail_uri",
    "weight_histogram",
]

#: largest image side drawn as a thumbnail (rows of more than 128 * 128 values are not drawn)
MAX_SIDE = 128
#: smallest: rows of fewer than 4 * 4 values are not pictures
MIN_SIDE = 4


@dataclass(frozen=True)
class Bar:
    """One histogram bin ``[lo, hi]`` (integer weights) with ``count`` centres, and where the
    template draws it (SVG user units)."""

    lo: int
    hi: int
    count: int
    x: float
    y: float
    width: float
    height: float

    @property
    def label(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}–{self.hi}"


@dataclass(frozen=True)
class Histogram:
    """Bars of a weight histogram in a ``width`` x ``height`` plot area; ``log`` when the bins
    are logarithmic."""

    bars: list[Bar]
    width: int
    height: int
    max_count: int
    log: bool


def weight_histogram(
    weights: np.ndarray, *, bins: int = 30, width: int = 600, height: int = 160
) -> Histogram:
    """Histogram of centre weights (each >= 1), one bin per value when they are few, else
    logarithmic bins. O(m) time, O(bins) output whatever the cover's size.

    Parameters
    ----------
    weights : ndarray of int, shape (m,)
    """
    w = np.asarray(weights, dtype=np.int64)
    if w.size == 0:
        return Histogram([], width, height, 0, False)
    top = int(w.max())
    log = top > bins
    if log:
        edges = np.unique(np.round(np.geomspace(1, top + 1, bins + 1)).astype(np.int64))
    else:
        edges = np.arange(1, top + 2, dtype=np.int64)
    counts = np.histogram(w, bins=edges)[0]  # bins [e_i, e_{i+1}); the last one closed
    slot = width / len(counts)
    peak = int(counts.max())
    bars = []
    for i, c in enumerate(counts):
        lo, hi = int(edges[i]), int(edges[i + 1]) - 1
        if i == len(counts) - 1:
            hi = top
        h = height * int(c) / peak if peak else 0.0
        bars.append(Bar(lo, hi, int(c), i * slot + 1, height - h, max(slot - 2, 1), h))
    return Histogram(bars, width, height, peak, log)


def image_side(dim: int) -> int | None:
    """The side of a square image of ``dim`` pixels, or None when the rows are not pictures."""
    s = math.isqrt(dim)
    return s if s * s == dim and MIN_SIDE <= s <= MAX_SIDE else None


def png_gray(img: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of ``img`` (h, w), scaled so its min is black and its max white.

    Non-finite values are drawn black.
    """
    a = np.asarray(img, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"need a non-empty (h, w) image, got shape {a.shape}")
    finite = np.isfinite(a)
    lo = float(a[finite].min()) if finite.any() else 0.0
    hi = float(a[finite].max()) if finite.any() else 0.0
    b = np.where(finite, a, lo)
    scaled = (b - lo) / (hi - lo) if hi > lo else np.zeros_like(b)
    pix = (scaled * 255.0).round().clip(0, 255).astype(np.uint8)
    h, w = pix.shape
    rows = np.hstack([np.zeros((h, 1), np.uint8), pix])  # filter byte 0 (none) per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit, grayscale, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def thumbnail_uri(row: np.ndarray, side: int) -> str:
    """A ``data:`` URI of the PNG of a flat row drawn as a ``side`` x ``side`` image."""
    png = png_gray(np.asarray(row).reshape(side, side))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


#: the most points of a curve drawn as dots (the line is always drawn through all of them)
MAX_DOTS = 100


@dataclass(frozen=True)
class Tick:
    """An axis tick at ``pos`` (SVG user units along its axis) labelled ``label``."""

    pos: float
    label: str


@dataclass(frozen=True)
class CurvePoint:
    """A point of a size curve: ``size`` centres (``fraction`` of the rows) at radius ``eta``,
    drawn at (``x``, ``y``)."""

    eta: float
    size: int
    fraction: float
    x: float
    y: float


@dataclass(frozen=True)
class CurvePlot:
    """A size-against-eta curve in a ``width`` x ``height`` plot area: the line through
    ``points`` (``line``, SVG polyline points), dots at ``dots``, the ticks of eta (bottom),
    centres (left, logarithmic) and the fraction of the rows (right: the same scale divided by
    ``n``), and ``mark``, a cover drawn on it."""

    width: int
    height: int
    points: list[CurvePoint]
    line: str
    dots: list[CurvePoint]
    eta_ticks: list[Tick]
    size_ticks: list[Tick]
    fraction_ticks: list[Tick]
    mark: CurvePoint | None


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)


def _linear_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round values in ``[lo, hi]`` (``lo < hi``), about ``count`` of them."""
    step = _nice_step(hi - lo, count)
    digits = max(0, -math.floor(math.log10(step)) + 2)
    first = math.ceil(lo / step - 1e-9)
    out = []
    k = first
    while k * step <= hi * (1 + 1e-12) + 1e-300:
        out.append(round(k * step, digits))
        k += 1
    return out


def _log_ticks(lo: float, hi: float, ends: tuple[float, float]) -> list[float]:
    """1, 2 and 5 times powers of ten in ``[lo, hi]`` (``0 < lo < hi``); only the powers of ten
    when those are too many; ``ends`` (the data's extremes) when fewer than two fall inside."""
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    cands = [m * 10.0**k for k in range(k0, k1 + 1) for m in (1, 2, 5)]
    inside = [v for v in cands if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
    if len(inside) > 8:
        inside = [v for v in inside if round(v / 10.0 ** math.floor(math.log10(v))) == 1]
    return inside if len(inside) >= 2 else sorted(set(ends))


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 1000 and float(v).is_integer() else f"{v:.4g}"


def _percent(f: float) -> str:
    return f"{100 * f:.3g}%"


def curve_plot(
    etas: list[float],
    sizes: list[int],
    n: int,
    *,
    mark: tuple[float, int] | None = None,
    width: int = 600,
    height: int = 220,
) -> CurvePlot:
    """The geometry of a size curve: eta on a linear axis, centres on a logarithmic one.

    The axes span the curve and ``mark`` (a cover's (eta, size), drawn even when it lies
    outside the curve's range). O(len(etas)) time and output.

    Parameters
    ----------
    etas : list of float, length r
        Ascending radii, each > 0.
    sizes : list of int, length r
        Centres at each radius (each >= 1).
    n : int
        Rows of the dataset (the fraction is ``size / n``).
    """
    if len(etas) != len(sizes) or not etas:
        raise ValueError(f"need as many sizes as radii (>= 1), got {len(etas)} and {len(sizes)}")
    if n < 1 or min(sizes) < 1:
        raise ValueError("sizes and the number of rows must be >= 1")
    xs = list(etas) + ([mark[0]] if mark else [])
    ys = [float(s) for s in sizes] + ([float(max(mark[1], 1))] if mark else [])
    x0, x1 = min(xs), max(xs)
    if x1 - x0 <= 1e-12 * max(abs(x1), 1e-300):
        x0, x1 = x0 * 0.9, x1 * 1.1
    pad = 0.04 * (x1 - x0)
    x0, x1 = max(x0 - pad, 0.0), x1 + pad
    y0, y1 = min(ys), max(ys)
    ends = (y0, y1)
    if y1 / y0 < 1.5:
        y0, y1 = max(y0 / 1.5, 0.5), y1 * 1.5
    ly0, ly1 = math.log10(y0), math.log10(y1)
    lpad = 0.04 * (ly1 - ly0)
    ly0, ly1 = ly0 - lpad, ly1 + lpad

    def x_of(e: float) -> float:
        return width * (e - x0) / (x1 - x0)

    def y_of(s: float) -> float:
        return height * (ly1 - math.log10(s)) / (ly1 - ly0)

    pts = [CurvePoint(e, s, s / n, x_of(e), y_of(s)) for e, s in zip(etas, sizes, strict=True)]
    line = " ".join(f"{p.x:.1f},{p.y:.1f}" for p in pts)
    lo, hi = 10.0**ly0, 10.0**ly1
    return CurvePlot(
        width=width,
        height=height,
        points=pts,
        line=line,
        dots=pts if len(pts) <= MAX_DOTS else [],
        eta_ticks=[Tick(x_of(v), _fmt(v)) for v in _linear_ticks(x0, x1)],
        size_ticks=[Tick(y_of(v), _fmt(v)) for v in _log_ticks(lo, hi, ends)],
        fraction_ticks=[
            Tick(y_of(f * n), _percent(f))
            for f in _log_ticks(lo / n, hi / n, (ends[0] / n, ends[1] / n))
        ],
        mark=(
            CurvePoint(mark[0], mark[1], mark[1] / n, x_of(mark[0]), y_of(max(mark[1], 1)))
            if mark
            else None
        ),
    )
