from __future__ import annotations

import gzip
import json
import struct
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
from covering import fingerprint


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


def _cover_file(path: Path, X: np.ndarray, y: np.ndarray | None) -> Path:
    import covering
    from covering.cli import write_manifest

    write_manifest(path, covering.cover(X, y, k=12, seed=0))
    return path


@pytest.mark.parametrize("dtype", [np.int32, np.uint8])
def test_cover_of_narrow_labels_is_accepted(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray], dtype: type
) -> None:
    X, y = digits[0][:200], digits[1][:200].astype(dtype)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    m, arrays = load_manifest(str(_cover_file(tmp_path / "c.json", X, y)))
    d = load_data(str(tmp_path / "X.npy"), labels=tmp_path / "y.npy")
    sel = selection_from_manifest(m, arrays, d.X_train, d.y_train, d.labels_fingerprint)
    assert sel.size == m.stats.size and sel.y.dtype == np.int64
    other = y.copy()
    other[:2] = other[:2][::-1] if other[0] != other[1] else (other[:2] + 1) % 10
    with pytest.raises(ValueError, match="other labels"):
        selection_from_manifest(m, arrays, X, other.astype(np.int64), fingerprint(other))


def test_unlabelled_cover_is_refused(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits[0][:200], digits[1][:200]
    m, arrays = load_manifest(str(_cover_file(tmp_path / "c.json", X, None)))
    with pytest.raises(ValueError, match=r"unlabelled.*covering cover X.npy --labels"):
        selection_from_manifest(m, arrays, X, y)


def test_payload_beside_a_downloaded_manifest(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    import covering
    from covering.cli import write_manifest

    X, y = digits[0][:200], digits[1][:200]
    write_manifest(tmp_path / "c.json", covering.cover(X, y, k=12, seed=0), force_arrays=True)
    m = json.loads((tmp_path / "c.json").read_text())
    m["centres"], m["payload"]["url"] = None, "/covers/abc/arrays"  # as the service serves it
    (tmp_path / "dl.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match=r"beside it as dl\.npz"):
        load_manifest(str(tmp_path / "dl.json"))
    (tmp_path / "c.npz").rename(tmp_path / "dl.npz")
    got, arrays = load_manifest(str(tmp_path / "dl.json"))
    assert len(arrays["indices"]) == got.stats.size == 12


def test_invalid_manifest_names_the_field(
    tmp_path: Path, digits_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from covering.cli import main

    m = json.loads(digits_manifest.read_text())
    m["params"]["metric"] = "hamming"
    (tmp_path / "m.json").write_text(json.dumps(m))
    assert main(["train", "digits", "--manifest", str(tmp_path / "m.json"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "m.json: not a valid cover manifest: params.metric: Input should be" in err
    assert len(err.strip().splitlines()) == 1


def _bad_labels(y: np.ndarray) -> list[tuple[np.ndarray, str]]:
    huge, wrap = y.copy(), y.astype(np.uint64)
    huge[0], wrap[0] = 10**9, 2**63 + 1
    return [(huge, "C <= 10000"), (wrap, "C <= 10000"), (y * 0, "single class")]


def test_bad_labels_and_empty_data_are_refused(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = digits[0][:200], digits[1][:200]
    np.save(tmp_path / "X.npy", X)
    for bad, message in _bad_labels(y):
        np.save(tmp_path / "bad.npy", bad)
        with pytest.raises(ValueError, match=message):
            load_data(str(tmp_path / "X.npy"), labels=tmp_path / "bad.npy")
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "yt.npy", np.where(y == 3, 11, y))
    with pytest.raises(ValueError, match=r"classes \[11\] that do not occur in the training"):
        load_data(
            str(tmp_path / "X.npy"),
            labels=tmp_path / "y.npy",
            test_x=tmp_path / "X.npy",
            test_y=tmp_path / "yt.npy",
        )
    np.save(tmp_path / "X0.npy", X[:0])
    np.save(tmp_path / "y0.npy", y[:0])
    with pytest.raises(ValueError, match="X0 train: no data"):
        load_data(str(tmp_path / "X0.npy"), labels=tmp_path / "y0.npy")
    with pytest.raises(ValueError, match="X test: no data"):
        load_data(
            str(tmp_path / "X.npy"),
            labels=tmp_path / "y.npy",
            test_x=tmp_path / "X0.npy",
            test_y=tmp_path / "y0.npy",
        )
    with pytest.raises(ValueError, match=r"apply only to an X\.npy dataset"):
        load_data("digits", labels=tmp_path / "y.npy")
    with pytest.raises(ValueError, match=r"apply only to an X\.npy dataset"):
        load_data("digits", test_x=tmp_path / "X.npy", test_y=tmp_path / "y.npy")


def _idx_gz(path: Path, arr: np.ndarray) -> None:
    head = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.astype(np.uint8).tobytes())


def test_mnist_directory_truncated_or_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "mnist"
    d.mkdir()
    for split, n in (("train", 20), ("t10k", 8)):
        _idx_gz(d / f"{split}-images-idx3-ubyte.gz", np.full((n, 4, 4), 128))
        _idx_gz(d / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 4)
    monkeypatch.setenv("COVERING_MNIST_DIR", str(d))
    data = load_data("auto")
    assert data.name == "mnist" and data.n_classes == 4 and data.X_train.shape == (20, 16)
    assert data.labels_fingerprint == fingerprint(data.y_train)  # as covering.data loads it
    gz = d / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:-12])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz is truncated"):
        load_data(str(d))
    for env in (tmp_path / "missing", tmp_path):
        monkeypatch.setenv("COVERING_MNIST_DIR", str(env))
        for name in ("mnist", "auto"):
            with pytest.raises(ValueError, match="COVERING_MNIST_DIR"):
                load_data(name)


def test_payload_arrays_are_verified_against_the_data(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    import covering
    from covering.cli import write_manifest
    from covering.io import read_npz, write_npz_atomic

    X, y = digits[0][:200], digits[1][:200]
    write_manifest(tmp_path / "c.json", covering.cover(X, y, k=12, seed=0), force_arrays=True)
    doc = json.loads((tmp_path / "c.json").read_text())
    doc["centres"] = None
    (tmp_path / "c.json").write_text(json.dumps(doc))
    m, arrays = load_manifest(str(tmp_path / "c.json"))
    assert "assignment" in arrays and selection_from_manifest(m, arrays, X, y).size == 12
    bad = dict(read_npz(tmp_path / "c.npz"))
    bad["weights"] = bad["weights"].copy()
    bad["weights"][0] = 2**62  # the sha256 is rewritten to match: only verification can tell
    sha = write_npz_atomic(tmp_path / "c.npz", bad)
    doc = json.loads((tmp_path / "c.json").read_text())
    doc["centres"], doc["payload"]["sha256"] = None, sha  # centres only in the payload
    (tmp_path / "c.json").write_text(json.dumps(doc))
    m, arrays = load_manifest(str(tmp_path / "c.json"))
    with pytest.raises(ValueError, match="does not verify"):
        selection_from_manifest(m, arrays, X, y)


def test_bool_labels_as_the_engine_takes_them(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    X, yb = digits[0][:200], digits[1][:200] % 2 == 0
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", yb)
    m, arrays = load_manifest(str(_cover_file(tmp_path / "c.json", X, yb)))
    d = load_data(str(tmp_path / "X.npy"), labels=tmp_path / "y.npy")
    assert d.n_classes == 2 and d.y_train.dtype == np.int64
    sel = selection_from_manifest(m, arrays, d.X_train, d.y_train, d.labels_fingerprint)
    assert sel.size == 12


@pytest.mark.parametrize("url", ["http://x:abc", "http://[::1", "ftp://host"])
def test_bad_service_url_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="invalid service URL"):
        load_manifest("abc", server=url)


def test_inline_centres_are_verified_against_the_data(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = digits[0][:200], digits[1][:200]
    path = _cover_file(tmp_path / "c.json", X, y)
    doc = json.loads(path.read_text())
    doc["params"]["eta"] = doc["stats"]["radius"] = doc["stats"]["radius"] / 2  # a lie
    doc["params"]["k"] = None
    path.write_text(json.dumps(doc))
    m, arrays = load_manifest(str(path))
    with pytest.raises(ValueError, match="does not verify"):
        selection_from_manifest(m, arrays, X, y)


def test_unparsable_manifest_url_names_the_option() -> None:
    with pytest.raises(ValueError, match=r"--manifest 'http://\[::1'"):
        load_manifest("http://[::1")


def test_auto_says_where_the_data_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training client finds MNIST with covering.data's loader: COVERING_MNIST_DIR, then the
    cache; ``auto`` falls back to digits (saying why) when MNIST cannot be downloaded."""
    monkeypatch.delenv("COVERING_MNIST_DIR", raising=False)
    monkeypatch.setenv("COVERING_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COVERING_MNIST_MIRRORS", "")  # downloads off
    data = load_data("auto")
    assert data.name == "digits" and "MNIST is unavailable" in data.origin
    assert "COVERING_MNIST_MIRRORS is empty" in data.origin
    assert load_data("digits").origin == "scikit-learn's 8x8 digits"
    with pytest.raises(ValueError, match="could not get MNIST"):
        load_data("mnist")
    cache = tmp_path / "home" / "mnist"
    cache.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 12), ("t10k", 6)):
        _idx_gz(cache / f"{split}-images-idx3-ubyte.gz", np.full((n, 4, 4), 200))
        _idx_gz(cache / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 3)
    data = load_data("auto")
    assert data.name == "mnist" and data.X_train.shape == (12, 16)
    assert data.origin == f"MNIST from the cache {cache.resolve()}"
    monkeypatch.setenv("COVERING_MNIST_DIR", str(cache))
    assert load_data("mnist").origin == f"MNIST from COVERING_MNIST_DIR={cache}"


def test_demo_says_where_its_data_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``covering demo`` names its data first: MNIST and where from, or digits and why."""
    from clients.train import demo
    from clients.train.demo import run_demo

    def fake_train_eval(*args, **kwargs):  # the training is not tested here
        return {"clean": 0.5, "robust": {"pgd-linf-0.1": 0.4}, "seconds": 0.0}

    monkeypatch.setattr(demo, "_train_eval", fake_train_eval)
    monkeypatch.delenv("COVERING_MNIST_DIR", raising=False)
    monkeypatch.setenv("COVERING_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COVERING_MNIST_MIRRORS", "")
    lines: list[str] = []
    run_demo("auto", fraction=0.5, progress=False, echo=lines.append)
    assert lines[0].startswith("data: scikit-learn's 8x8 digits (MNIST is unavailable: ")
    assert lines[1].startswith("demo on digits")
    d = tmp_path / "mnist"
    d.mkdir()
    for split, n in (("train", 12), ("t10k", 6)):
        _idx_gz(d / f"{split}-images-idx3-ubyte.gz", np.full((n, 4, 4), 200))
        _idx_gz(d / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 3)
    monkeypatch.setenv("COVERING_MNIST_DIR", str(d))
    lines.clear()
    run_demo("auto", fraction=0.5, progress=False, echo=lines.append)
    assert lines[0] == f"data: MNIST from COVERING_MNIST_DIR={d}"
