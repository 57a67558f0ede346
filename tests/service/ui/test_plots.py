"""Server-made pictures: the weight histogram, the size curve and the PNG thumbnails."""

from __future__ import annotations

import io

import numpy as np
import pytest

from service.ui.plots import (
    MAX_DOTS,
    curve_plot,
    image_side,
    png_gray,
    thumbnail_uri,
    weight_histogram,
)


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


def test_curve_plot_places_points_on_linear_eta_and_log_size_axes() -> None:
    etas, sizes, n = [1.0, 1.5, 2.0, 2.5], [1000, 100, 10, 1], 2000
    p = curve_plot(etas, sizes, n)
    xs, ys = [q.x for q in p.points], [q.y for q in p.points]
    assert 0 <= xs[0] < xs[-1] <= p.width and 0 <= ys[0] < ys[-1] <= p.height
    assert np.allclose(np.diff(xs), xs[1] - xs[0])  # equal steps of eta: equal steps of x
    assert np.allclose(np.diff(ys), ys[1] - ys[0])  # sizes by tenths: equal steps of y
    assert [q.fraction for q in p.points] == [s / n for s in sizes]
    assert p.line.split() == [f"{q.x:.1f},{q.y:.1f}" for q in p.points]
    assert p.dots == p.points and p.mark is None
    # too many 1-2-5 ticks over four decades: the powers of ten
    assert [t.label for t in p.size_ticks] == ["1", "10", "100", "1,000"]

    def y_of(v: float) -> float:  # the log scale through the points drawn
        b = (ys[-1] - ys[0]) / (np.log10(sizes[-1]) - np.log10(sizes[0]))
        return float(ys[0] + b * (np.log10(v) - np.log10(sizes[0])))

    for t in p.size_ticks:  # each tick where its value is drawn
        assert t.pos == pytest.approx(y_of(float(t.label.replace(",", ""))))
    assert [t.label for t in p.fraction_ticks] == ["0.1%", "1%", "10%"]
    for t in p.fraction_ticks:  # the right axis: the same scale, divided by n
        assert t.pos == pytest.approx(y_of(float(t.label.rstrip("%")) / 100 * n))
    labels = [float(t.label) for t in p.eta_ticks]
    assert labels[0] >= 0.9 and labels[-1] <= 2.6 and {1.0, 1.5, 2.0, 2.5} <= set(labels)


def test_curve_plot_mark_widens_the_axes_and_long_curves_have_no_dots() -> None:
    p = curve_plot([1.0, 2.0], [50, 20], 100, mark=(3.0, 5))
    assert p.mark is not None and p.mark.size == 5 and p.mark.eta == 3.0
    assert 0 < p.mark.x <= p.width and 0 < p.mark.y <= p.height
    assert p.mark.x > max(q.x for q in p.points) and p.mark.y > max(q.y for q in p.points)
    one = curve_plot([1.5], [310], 1797)  # a single radius still has axes
    assert len(one.eta_ticks) >= 2 and 0 < one.points[0].x < one.width
    assert [t.label for t in one.size_ticks] == ["310"]
    etas = np.geomspace(0.1, 1, MAX_DOTS + 1).tolist()
    long = curve_plot(etas, list(range(MAX_DOTS + 1, 0, -1)), 10_000)
    assert long.dots == [] and len(long.line.split()) == MAX_DOTS + 1
    with pytest.raises(ValueError, match="as many sizes"):
        curve_plot([1.0, 2.0], [3], 10)
    with pytest.raises(ValueError, match=">= 1"):
        curve_plot([1.0], [0], 10)
