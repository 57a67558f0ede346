"""Manifest: schema of ARCHITECTURE.md, lossless JSON round trip, golden file, validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydantic
import pytest

import covering
from covering import Manifest

GOLDEN = Path(__file__).parent / "golden_manifest.json"


@pytest.fixture(scope="module")
def cov():
    rng = np.random.default_rng(0)
    X = rng.random((120, 3)).astype(np.float32)
    y = rng.integers(0, 2, 120)
    return covering.cover(X, y, eta=0.4, method="greedy")


def test_round_trip_lossless(cov):
    m = Manifest.from_cover(cov, cover_id="abc", parent="p0")
    back = Manifest.model_validate_json(m.model_dump_json())
    assert back == m
    assert back.model_dump_json() == m.model_dump_json()
    arr = back.arrays()
    assert np.array_equal(arr["indices"], cov.indices)
    assert np.array_equal(arr["weights"], cov.weights)
    assert np.array_equal(arr["labels"], cov.labels)
    assert back.stats.radius == cov.radius and back.params.eta == cov.eta


def test_schema_fields(cov):
    d = json.loads(Manifest.from_cover(cov, cover_id="abc").model_dump_json())
    assert d["kind"] == "cover-manifest" and d["schema_version"] == 1
    assert set(d) >= {
        "cover_id",
        "parent",
        "created_at",
        "engine",
        "dataset",
        "params",
        "stats",
        "centres",
    }
    assert d["dataset"]["fingerprint"].startswith("sha256:")
    assert d["dataset"]["labels_fingerprint"].startswith("sha256:")
    assert d["engine"]["name"] == "covering"
    assert set(d["stats"]["per_class"]) == {"0", "1"}
    assert sum(d["centres"]["weights"]) == d["dataset"]["n"] == 120


def test_golden_file_still_parses():
    text = GOLDEN.read_text()
    m = Manifest.model_validate_json(text)
    assert m.stats.size == len(m.centres.indices) == 3
    assert json.loads(m.model_dump_json()) == json.loads(text)


def test_payload_form(cov):
    with pytest.raises(ValueError, match="payload"):
        Manifest.from_cover(cov, inline=False)
    m = Manifest.from_cover(
        cov, inline=False, payload_url="/covers/x/arrays", payload_sha256="0" * 64
    )
    assert m.centres is None and m.payload is not None
    with pytest.raises(ValueError, match="payload"):
        m.arrays()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(schema_version=2),
        lambda d: d["centres"]["weights"].append(1),
        lambda d: d["dataset"].update(fingerprint="md5:abc"),
        lambda d: d.update(cover_id="../etc"),
        lambda d: d.update(centres=None),
        lambda d: d.update(unexpected=1),
        lambda d: d["params"].update(metric="l7"),
        lambda d: d["centres"]["indices"].__setitem__(0, 2**70),  # past int64
        lambda d: d["centres"]["labels"].__setitem__(0, -(2**70)),
        lambda d: d["centres"]["indices"].__setitem__(0, d["dataset"]["n"]),  # out of range
        lambda d: d["centres"]["indices"].__setitem__(1, d["centres"]["indices"][0]),
        lambda d: d["params"].update(eta=float("inf")),
        lambda d: d["params"].update(k=5),  # both eta and k
        lambda d: d["stats"].update(radius=d["params"]["eta"] * 2),  # radius > eta
    ],
)
def test_invalid_manifests_rejected(cov, mutate):
    d = json.loads(Manifest.from_cover(cov, cover_id="abc").model_dump_json())
    mutate(d)
    with pytest.raises(pydantic.ValidationError):
        Manifest.model_validate_json(json.dumps(d))
