"""What a job computes: a cover of a stored dataset, or a cover extended by new rows, or the
size-against-eta curve of a stored dataset.

Only the public ``covering`` API is used. The cover functions write the cover's ``.npz`` and
manifest atomically and return the :class:`~service.models.CoverRow` to record;
:func:`run_curve` writes the curve's JSON atomically.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import covering
from covering.io import read_npz, write_bytes_atomic, write_cover
from service.models import CoverRow, JobRow
from service.settings import Settings
from service.store import Store

__all__ = ["Progress", "run_add_points", "run_cover", "run_curve", "save_cover"]

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``; raises to cancel
Progress = Callable[[str, int, int], None]


def save_cover(
    store: Store,
    settings: Settings,
    job: JobRow,
    cov: covering.Cover,
    *,
    dataset: str,
    labels: str | None,
) -> CoverRow:
    """Write ``covers/<id>.npz`` and ``covers/<id>.json`` (atomic) for a finished cover
    (:func:`covering.io.write_cover`)."""
    cid = job.cover_id
    manifest = write_cover(
        store.manifest_path(cid),
        cov,
        always_arrays=True,
        arrays_path=store.arrays_path(cid),
        payload_url=f"/covers/{cid}/arrays",
        inline_max=settings.inline_max_centres,
        cover_id=cid,
        parent=job.parent,
    )
    assert manifest.payload is not None
    sha = manifest.payload.sha256
    return CoverRow(
        id=cid,
        job_id=job.id,
        dataset=dataset,
        labels=labels,
        parent=job.parent,
        size=cov.size,
        n=cov.n,
        payload_sha256=sha,
        created_at=time.time(),
    )


def run_cover(store: Store, settings: Settings, job: JobRow, progress: Progress) -> CoverRow:
    """Cover a stored dataset with the job's parameters (``covering.cover`` or Ray)."""
    p: dict[str, Any] = json.loads(job.params)
    X = store.load(job.dataset)
    y = np.asarray(store.load(job.labels)) if job.labels else None
    if settings.ray_address and p.get("eta") is not None:
        from covering.distributed import cover_shards

        progress("ray", 0, int(X.shape[0]))
        cov = cover_shards(
            [str(store.dataset_path(job.dataset))],
            [str(store.dataset_path(job.labels))] if job.labels else None,
            eta=p["eta"],
            metric=p.get("metric", "l2"),
            address=settings.ray_address,
            seed=int(p.get("seed", 0)),
            rows_per_shard=max(10_000, -(-int(X.shape[0]) // 16)),
            progress=progress,
        )
    else:
        cov = covering.cover(
            X,
            y,
            eta=p.get("eta"),
            k=p.get("k"),
            metric=p.get("metric", "l2"),
            method=p.get("method", "auto"),
            backend=settings.backend,
            seed=int(p.get("seed", 0)),
            time_limit=p.get("time_limit"),
            progress=progress,
        )
    del X
    return save_cover(store, settings, job, cov, dataset=job.dataset, labels=job.labels)


def _parent_cover(store: Store, parent_id: str) -> tuple[covering.Cover, covering.Manifest]:
    manifest = covering.Manifest.model_validate_json(store.manifest_path(parent_id).read_bytes())
    arr = read_npz(store.arrays_path(parent_id))
    lab = arr.get("labels")
    eta = manifest.params.eta if manifest.params.eta is not None else manifest.stats.radius
    cov = covering.Cover(
        indices=arr["indices"],
        weights=arr["weights"],
        assignment=arr["assignment"],
        labels=lab if lab is not None and lab.size else None,
        eta=float(eta),
        radius=manifest.stats.radius,
        metric=manifest.params.metric,
        method=manifest.params.method,
        n=manifest.dataset.n,
        dim=manifest.dataset.dim,
        lower_bound=manifest.stats.lower_bound,
        fingerprint=manifest.dataset.fingerprint,
        labels_fingerprint=manifest.dataset.labels_fingerprint,
        dtype=manifest.dataset.dtype,
    )
    return cov, manifest


def run_add_points(store: Store, settings: Settings, job: JobRow, progress: Progress) -> CoverRow:
    """Extend the parent cover by the job's rows with ``CoverBuilder``.

    The concatenated dataset (parent rows, then new rows) and labels are stored as datasets of
    their own, so the new cover can be extended again and its fingerprint can be checked.
    """
    assert job.parent is not None
    parent_row = store.get_cover(job.parent)
    progress("load", 0, 3)
    cov0, _ = _parent_cover(store, job.parent)
    X0 = store.load(parent_row.dataset)
    y0 = np.asarray(store.load(parent_row.labels)) if parent_row.labels else None
    X1 = store.load(job.dataset)
    y1 = np.asarray(store.load(job.labels)) if job.labels else None
    if (y0 is None) != (y1 is None):
        raise ValueError(
            "the parent cover is "
            + (
                "labelled: new rows need labels"
                if y0 is not None
                else "unlabelled: new rows must not have labels"
            )
        )
    progress("builder", 1, 3)
    builder = covering.CoverBuilder.from_cover(X0, cov0, y0)
    progress("add", 2, 3)
    builder.add(X1, y1)
    cov = builder.cover()
    progress("store", 3, 3)
    X = np.concatenate([np.asarray(X0), np.asarray(X1)])
    ds = store.put_array(X).sha256
    del X
    lab = store.put_array(np.concatenate([y0, y1])).sha256 if y0 is not None else None
    assert y1 is not None or lab is None
    return save_cover(store, settings, job, cov, dataset=ds, labels=lab)


def run_curve(store: Store, job: JobRow, progress: Progress) -> tuple[Path, int]:
    """The greedy cover size at each radius of the job's range (``covering.size_curve``).

    The job's params hold ``etas`` (a list), or ``eta_min``, ``eta_max`` and ``num`` (that many
    radii spaced geometrically), or only ``num`` (``size_curve``'s default range); progress is
    stage ``curve``, radii done out of all. Writes ``curves/<id>.json`` atomically (``id`` is
    the job's result id) and returns its path and the number of radii.
    """
    p: dict[str, Any] = json.loads(job.params)
    X = store.load(job.dataset)
    y = np.asarray(store.load(job.labels)) if job.labels else None
    num = int(p.get("num") or 16)
    etas = p.get("etas")
    if etas is None and p.get("eta_min") is not None:
        etas = np.geomspace(float(p["eta_min"]), float(p["eta_max"]), num).tolist()
    progress("curve", 0, len(etas) if etas is not None else num)
    curve = covering.size_curve(
        X,
        y,
        etas,
        num=num,
        metric=p.get("metric", "l2"),
        seed=int(p.get("seed", 0)),
        progress=progress,
    )
    del X
    body = {
        "curve_id": job.cover_id,
        "job_id": job.id,
        "dataset": job.dataset,
        "labels": job.labels,
        **curve.to_dict(),
    }
    path = store.curve_path(job.cover_id)
    path.parent.mkdir(exist_ok=True)
    write_bytes_atomic(path, json.dumps(body).encode())
    return path, int(curve.etas.shape[0])
