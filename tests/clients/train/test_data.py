from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clients.train.baselines import budget_cover, check_budget, kcenter_subset, random_subset
from clients.train.data import (
    check_fingerprint,
    image_shape,
    load_data,
    load_manifest,
    selection_from_manifest,
)


def test_manifest_file_to_weighted_selection(
    digits_manifest: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = digits
    m, arrays = load_manifest(str(digits_manifest))
    sel = selection_from_manifest(m, arrays, X, y)
    assert sel.size == m.stats.size and sel.weights.sum() == X.shape[0]
    assert np.array_equal(sel.y, y[sel.indices]) and sel.eta == m.params.eta


def test_fingerprint_mismatch_is_refused(
    digits_manifest: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = digits
    m, arrays = load_manifest(str(digits_manifest))
    other = X.copy()
    other[0, 0] = 0.5 if other[0, 0] != 0.5 else 0.25
    with pytest.raises(ValueError, match=r"another dataset.*fingerprint") as err:
        selection_from_manifest(m, arrays, other, y)
    assert m.dataset.fingerprint in str(err.value)
    with pytest.raises(ValueError, match="another dataset"):
        check_fingerprint(m, X[:100])
    y2 = y.copy()
    y2[:2] = y2[:2][::-1] if y2[0] != y2[1] else (y2[:2] + 1) % 10
    with pytest.raises(ValueError, match="other labels"):
        selection_from_manifest(m, arrays, X, y2)


def test_bad_manifest_and_unknown_dataset(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "nope"}')
    with pytest.raises(ValueError, match="not a valid cover manifest"):
        load_manifest(str(bad))
    with pytest.raises(ValueError, match="no such file"):
        load_manifest(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="unknown dataset"):
        load_data("cifar10")


def test_npy_dataset(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    np.save(tmp_path / "X.npy", X[:200])
    np.save(tmp_path / "y.npy", y[:200])
    d = load_data(str(tmp_path / "X.npy"), labels=tmp_path / "y.npy")
    assert d.shape == (1, 8, 8) and d.test_split == "train" and d.X_train.shape == (200, 64)
    with pytest.raises(ValueError, match="needs its labels"):
        load_data(str(tmp_path / "X.npy"))
    np.save(tmp_path / "big.npy", X[:200] * 16)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        load_data(str(tmp_path / "big.npy"), labels=tmp_path / "y.npy")
    assert image_shape(12, "3,2,2") == (3, 2, 2)
    with pytest.raises(ValueError, match="not square"):
        image_shape(12)


def test_baselines_budget(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    mfc, weights, radius = budget_cover(X, y, 5, seed=1)
    for idx in (random_subset(y, 5, seed=1), kcenter_subset(X, y, 5, seed=1), mfc):
        assert np.array_equal(np.bincount(y[idx]), np.full(10, 5))  # the same points per class
        assert len(np.unique(idx)) == 50
    assert weights.sum() == len(y) and radius > 0
    for c in range(10):  # each class's weights count its own rows
        assert weights[y[mfc] == c].sum() == np.sum(y == c)
    with pytest.raises(ValueError, match="exceeds class"):
        check_budget(y, 10_000)
    with pytest.raises(ValueError, match=">= 1"):
        random_subset(y, 0)


def test_manifest_by_url_or_id_goes_through_cover_client(
    digits_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clients.http
    from covering.manifest import Manifest

    m = Manifest.model_validate_json(digits_manifest.read_bytes())
    calls: list[tuple[str, str | None, str]] = []

    class FakeClient:
        def __init__(self, base_url: str, token: str | None = None) -> None:
            self.base, self.token = base_url, token

        def manifest(self, cover_id: str) -> Manifest:
            calls.append((self.base, self.token, cover_id))
            if cover_id == "missing":
                raise clients.http.NotFound(404, "unknown cover")
            return m

        def arrays(self, cover_id: str, manifest: Manifest | None = None) -> dict:
            raise AssertionError("inline manifest: no arrays download")

        def close(self) -> None:
            pass

    monkeypatch.setattr(clients.http, "CoverClient", FakeClient)
    got, arrays = load_manifest("http://svc:8000/api/covers/abc", token="t")
    assert got == m and len(arrays["indices"]) == m.stats.size
    load_manifest("xyz", server="http://svc:8000")
    assert calls == [("http://svc:8000/api", "t", "abc"), ("http://svc:8000", None, "xyz")]
    with pytest.raises(ValueError, match=r"cover missing at http://svc: .*unknown cover"):
        load_manifest("missing", server="http://svc")
    with pytest.raises(ValueError, match="/covers/<id>"):
        load_manifest("http://svc/other/abc")
