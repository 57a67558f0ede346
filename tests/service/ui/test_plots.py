"""Server-made pictures: the weight histogram and the PNG thumbnails."""

from __future__ import annotations

import io

import numpy as np
import pytest

from service.ui.plots import image_side, png_gray, thumbnail_uri, weight_histogram


def test_histogram_one_bin_per_small_weight() -> None:
    h = weight_histogram(np.array([1, 1, 2, 5, 5, 5]))
    assert not h.log and [b.count for b in h.bars] == [2, 1, 0, 0, 3]
    assert [b.label for b in h.bars] == ["1", "2", "3", "4", "5"]
    assert h.max_count == 3 and max(b.height for b in h.bars) == h.height


def test_histogram_log_bins_count_every_centre() -> None:
    rng = np.random.default_rng(0)
    w = np.concatenate([rng.integers(1, 10, 10_000), [123_456, 7]])
    h = weight_histogram(w)
    assert h.log and len(h.bars) <= 30
    assert sum(b.count for b in h.bars) == w.size
    assert h.bars[0].lo == 1 and h.bars[-1].hi == 123_456
    for a, b in zip(h.bars, h.bars[1:], strict=False):  # contiguous, disjoint integer bins
        assert b.lo == a.hi + 1
    for b in h.bars:
        assert b.count == int(((w >= b.lo) & (w <= b.hi)).sum())
    assert weight_histogram(np.array([], np.int64)).bars == []


def test_image_side() -> None:
    assert image_side(784) == 28 and image_side(64) == 8
    assert image_side(4) is None and image_side(785) is None and image_side(129 * 129) is None


def test_png_decodes_to_the_scaled_image() -> None:
    pil = pytest.importorskip("PIL.Image")
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = np.asarray(pil.open(io.BytesIO(png_gray(img))))
    assert got.shape == (3, 4) and got.dtype == np.uint8
    assert got[0, 0] == 0 and got[-1, -1] == 255
    assert np.array_equal(got, np.round(img / 11 * 255).astype(np.uint8))
    flat = np.asarray(pil.open(io.BytesIO(png_gray(np.full((2, 2), 7.0)))))
    assert (flat == 0).all()
    odd = np.array([[np.nan, 1.0], [np.inf, 3.0]])
    assert np.asarray(pil.open(io.BytesIO(png_gray(odd)))).tolist() == [[0, 0], [0, 255]]
    assert thumbnail_uri(np.zeros(16), 4).startswith("data:image/png;base64,")
    with pytest.raises(ValueError):
        png_gray(np.zeros(5))
