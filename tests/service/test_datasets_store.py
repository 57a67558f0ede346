"""The content-addressed dataset store (``service.datasets_store``)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from service.datasets_store import DatasetStore
from service.errors import NotFound


@pytest.fixture
def store(tmp_path: Path) -> DatasetStore:
    return DatasetStore(tmp_path / "datasets", tmp_path / "tmp")


def test_an_array_is_stored_once_under_its_sha256(store: DatasetStore) -> None:
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    buf = io.BytesIO()
    np.save(buf, X, allow_pickle=False)
    info = store.put_array(X)
    assert info.sha256 == hashlib.sha256(buf.getvalue()).hexdigest()
    assert (info.kind, info.shape, info.dtype) == ("embedding", (4, 3), "float32")
    assert store.put_array(X) == info
    assert [p.name for p in store.datasets_dir.iterdir()] == [f"{info.sha256}.npy"]
    assert list(store.tmp_dir.iterdir()) == []
    assert np.array_equal(store.load(info.sha256), X)
    labels = store.put_array(np.arange(4))
    assert store.dataset_info(labels.sha256).kind == "labels"


def test_unknown_or_malformed_names_are_not_found(store: DatasetStore) -> None:
    with pytest.raises(NotFound):
        store.dataset_info("a" * 64)
    with pytest.raises(NotFound):
        store.load("a" * 64)
    with pytest.raises(NotFound):
        store.dataset_path("../../etc/passwd")


def test_uploads_cut_off_by_a_crash_are_removed(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "upload-x.part").write_bytes(b"half")
    DatasetStore(tmp_path / "datasets", tmp_path / "tmp")
    assert list((tmp_path / "tmp").iterdir()) == []
