"""The communication volume is a field of the result (``ShardedCover.comm``), not a parsed note."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("ray")

import covering
from covering.distributed import CommStats, ShardedCover, comm_stats

#: shards, candidates, gather, broadcast and coverage bytes, coverage edges, assign bytes
COMM = CommStats(3, 40, 1000, 900, 500, 120, 300)


def _sharded(notes: tuple[str, ...] = ()) -> ShardedCover:
    X = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)
    cov = covering.cover(X, eta=1.0, method="greedy")
    fields = {f.name: getattr(cov, f.name) for f in dataclasses.fields(cov)}
    return ShardedCover(**{**fields, "notes": notes}, comm=COMM)


def test_comm_stats_reads_the_field() -> None:
    cov = _sharded()
    assert isinstance(cov, covering.Cover)
    assert comm_stats(cov) == {
        "shards": 3,
        "candidates": 40,
        "gather_bytes": 1000,
        "broadcast_bytes": 900,
        "coverage_bytes": 500,
        "coverage_edges": 120,
        "assign_bytes": 300,
    }
    # the note is text for people (and the manifest); the figures never come back from it
    assert comm_stats(_sharded(notes=("ray comm: shards=99",))) == COMM.as_dict()


def test_a_cover_not_computed_on_ray_has_no_figures() -> None:
    X = np.zeros((3, 2), np.float32)
    cov = covering.cover(X, eta=1.0)
    assert comm_stats(cov) == {}
    noted = dataclasses.replace(cov, notes=(COMM.note(),))
    assert comm_stats(noted) == {}


def test_note_keeps_the_manifest_text() -> None:
    assert COMM.note() == (
        "ray comm: shards=3 candidates=40 gather_bytes=1000 broadcast_bytes=900 "
        "coverage_bytes=500 coverage_edges=120 assign_bytes=300"
    )
    cov = _sharded()
    m = covering.Manifest.from_cover(dataclasses.replace(cov, notes=(COMM.note(),)))
    assert m.stats.notes == [COMM.note()]
    assert dataclasses.replace(cov, seconds=1.0).comm == COMM
