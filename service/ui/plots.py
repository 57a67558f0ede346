"""Pictures made on the server: a weight histogram (SVG geometry) and image thumbnails (PNG).

Nothing here needs a plotting library: the histogram is a few rectangles the template draws as
inline SVG, and a thumbnail is an 8-bit grayscale PNG (``zlib`` + the PNG chunk layout).
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["Bar", "Histogram", "image_side", "png_gray", "thumbnail_uri", "weight_histogram"]

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
