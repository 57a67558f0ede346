"""What the console pages show, read from the store: lists of jobs, covers and datasets, and the
summary of one cover (per-class table, weight histogram, thumbnails of the heaviest centres).

Covers never change once written, so their summaries are cached (a few dozen, least recently
used first out); a big cover is read once, then its page costs nothing but rendering.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from covering import Manifest
from service.errors import NotFound
from service.models import FINAL_STATES, CoverRow, JobRow
from service.npy import DatasetInfo
from service.store import SHA_RE, Store
from service.ui.plots import Histogram, image_side, thumbnail_uri, weight_histogram

__all__ = [
    "ClassRow",
    "CoverCache",
    "CoverSummary",
    "Paged",
    "SummaryCache",
    "Thumb",
    "any_active",
    "cover_summary",
    "job_params",
    "list_covers",
    "list_datasets",
    "list_jobs",
    "page_of",
]

T = TypeVar("T")

#: rows per page of the job, cover and per-class tables
PAGE = 25
#: heaviest centres drawn as thumbnails
THUMBS = 24


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page (1-based ``page`` of ``pages``) of ``total`` items."""

    items: list[T]
    page: int
    pages: int
    total: int


def _pages(total: int, per: int) -> int:
    return max(1, math.ceil(total / per))


def page_of(items: list[T], page: int, per: int = PAGE) -> Paged[T]:
    """Page ``page`` of a list (clamped to the pages there are)."""
    pages = _pages(len(items), per)
    p = min(max(page, 1), pages)
    return Paged(items[(p - 1) * per : p * per], p, pages, len(items))


def _query_page(store: Store, model: type[Any], page: int) -> Paged[Any]:
    with Session(store.engine, expire_on_commit=False) as s:
        total = int(s.exec(select(func.count()).select_from(model)).one())
        pages = _pages(total, PAGE)
        p = min(max(page, 1), pages)
        rows = s.exec(
            select(model).order_by(col(model.created_at).desc()).offset((p - 1) * PAGE).limit(PAGE)
        ).all()
    return Paged(list(rows), p, pages, total)


def list_jobs(store: Store, page: int = 1) -> Paged[JobRow]:
    """Jobs, newest first."""
    return _query_page(store, JobRow, page)


def list_covers(store: Store, page: int = 1) -> Paged[CoverRow]:
    """Covers, newest first."""
    return _query_page(store, CoverRow, page)


def any_active(store: Store) -> bool:
    """Whether a job is queued or running (the list page then refreshes itself)."""
    with Session(store.engine) as s:
        row = s.exec(select(JobRow.id).where(col(JobRow.status).not_in(FINAL_STATES))).first()
    return row is not None


def list_datasets(store: Store, limit: int = PAGE) -> tuple[list[DatasetInfo], int]:
    """The ``limit`` most recently stored datasets, and how many there are."""
    files = [p for p in store.datasets_dir.glob("*.npy") if SHA_RE.fullmatch(p.stem)]
    stamped = []
    for p in files:
        try:
            stamped.append((p.stat().st_mtime, p.stem))
        except OSError:  # removed meanwhile
            continue
    stamped.sort(reverse=True)
    out = []
    for _, sha in stamped[:limit]:
        try:
            out.append(store.dataset_info(sha))
        except Exception:  # unreadable: not shown (the API reports it on use)
            continue
    return out, len(stamped)


@dataclass(frozen=True)
class ClassRow:
    """A row of the per-class table: ``n`` rows of the class, ``size`` centres, the achieved
    ``radius``, and a proven ``lower_bound`` on the size when the manifest has one."""

    label: str
    n: int
    size: int
    radius: float
    lower_bound: int | None = None

    @property
    def ratio(self) -> float | None:
        """``size / lower_bound`` (1 means the cover is proven minimal)."""
        return self.size / self.lower_bound if self.lower_bound else None


@dataclass(frozen=True)
class Thumb:
    """A centre drawn as an image: its row ``index``, ``weight`` and ``label``."""

    uri: str
    index: int
    weight: int
    label: int | None


@dataclass(frozen=True)
class CoverSummary:
    """Everything the cover page shows, computed once per cover."""

    manifest: Manifest
    row: CoverRow
    classes: list[ClassRow]
    total: ClassRow
    histogram: Histogram
    thumbs: list[Thumb] = field(default_factory=list)
    image_side: int | None = None
    no_thumbs: str | None = None


def _label_key(label: str) -> tuple[int, int | str]:
    try:
        return (0, int(label))
    except ValueError:
        return (1, label)


def _arrays(store: Store, cover_id: str) -> dict[str, np.ndarray]:
    path = store.arrays_path(cover_id)
    if not path.is_file():
        raise NotFound(f"cover {cover_id} has no arrays")
    with np.load(path, allow_pickle=False) as z:  # members are read one by one, on demand
        return {k: np.asarray(z[k]) for k in ("indices", "weights", "labels") if k in z.files}


def _thumbs(
    store: Store, row: CoverRow, arrays: dict[str, np.ndarray], dim: int
) -> tuple[list[Thumb], int | None, str | None]:
    side = image_side(dim)
    if side is None:
        return [], None, f"rows of {dim} values are not square images: no thumbnails"
    try:
        X = store.load(row.dataset)
    except NotFound:
        return [], side, "the cover's dataset is no longer stored: no thumbnails"
    w, idx = arrays["weights"], arrays["indices"]
    lab = arrays.get("labels")
    k = min(THUMBS, w.size)
    top = np.argpartition(-w, k - 1)[:k] if w.size > k else np.arange(w.size)
    top = top[np.lexsort((idx[top], -w[top]))]  # heaviest first, ties by row
    rows = np.asarray(X[np.sort(idx[top])])
    where = {int(r): i for i, r in enumerate(np.sort(idx[top]))}
    thumbs = []
    for j in top:
        r = int(idx[j])
        thumbs.append(
            Thumb(
                uri=thumbnail_uri(rows[where[r]], side),
                index=r,
                weight=int(w[j]),
                label=int(lab[j]) if lab is not None and lab.size else None,
            )
        )
    return thumbs, side, None


def cover_summary(store: Store, cover_id: str) -> CoverSummary:
    """Read a cover's manifest and arrays into what its page shows.

    Raises
    ------
    NotFound
        Unknown cover, or its files are gone.
    """
    row = store.get_cover(cover_id)
    mpath = store.manifest_path(cover_id)
    if not mpath.is_file():
        raise NotFound(f"cover {cover_id} has no manifest")
    m = Manifest.model_validate_json(mpath.read_bytes())
    arrays = _arrays(store, cover_id)
    weights = arrays["weights"].astype(np.int64)
    labels = arrays.get("labels")
    if labels is not None and labels.size:
        uniq, inv = np.unique(labels, return_inverse=True)
        counts = np.bincount(inv, weights=weights).astype(np.int64)
        n_of = {str(int(u)): int(c) for u, c in zip(uniq, counts, strict=True)}
    else:
        n_of = {"all": m.dataset.n}
    classes = []
    for key, cs in sorted(m.stats.per_class.items(), key=lambda kv: _label_key(kv[0])):
        lb = getattr(cs, "lower_bound", None)  # per-class bounds, when manifests carry them
        classes.append(ClassRow(key, n_of.get(key, 0), cs.size, cs.radius, lb))
    total = ClassRow("all", m.dataset.n, m.stats.size, m.stats.radius, m.stats.lower_bound)
    thumbs, side, why = _thumbs(store, row, arrays, m.dataset.dim)
    return CoverSummary(m, row, classes, total, weight_histogram(weights), thumbs, side, why)


class SummaryCache(Generic[T]):
    """Summaries of the most recently viewed results (thread-safe, at most ``size``).

    ``load(store, id)`` makes a summary; ``check(store, id)`` raises ``NotFound`` once the
    result is gone (it runs on every ``get``, so a deleted result is never served)."""

    def __init__(
        self,
        load: Callable[[Store, str], T],
        check: Callable[[Store, str], object],
        size: int = 32,
    ) -> None:
        self._load, self._check, self._size = load, check, size
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, store: Store, key: str) -> T:
        """The summary of ``key``; ``NotFound`` when it is unknown or gone."""
        self._check(store, key)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        summary = self._load(store, key)
        with self._lock:
            self._items[key] = summary
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return summary

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class CoverCache(SummaryCache[CoverSummary]):
    """Summaries of the most recently viewed covers (``NotFound`` once a cover is deleted,
    also by the API)."""

    def __init__(self, size: int = 32) -> None:
        super().__init__(cover_summary, lambda st, cid: st.get_cover(cid), size)


def job_params(job: JobRow) -> dict[str, Any]:
    """A job's parameters (its JSON column), ``{}`` when unreadable."""
    try:
        p = json.loads(job.params)
    except ValueError:
        return {}
    return p if isinstance(p, dict) else {}
