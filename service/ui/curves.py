"""What the console shows of size-against-eta curves (``curve`` jobs), read from the store: the
list of curves, one curve (its plot and table), and the curve matching a cover.

A curve's result is a JSON file that never changes once written, so its summary is cached
like a cover's (``CurveCache``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from service.errors import NotFound
from service.models import JobRow
from service.routes.curves import CurveOut
from service.store import Store
from service.ui.plots import CurvePlot, curve_plot
from service.ui.views import PAGE, Paged, SummaryCache, job_params

__all__ = [
    "MAX_CLASS_COLUMNS",
    "CurveCache",
    "CurveItem",
    "CurveRow",
    "CurveSummary",
    "curve_summary",
    "list_curves",
    "matching_curve",
]

#: per-class columns in a curve's table (a curve of more classes has them in its JSON only)
MAX_CLASS_COLUMNS = 20
#: curve jobs of one dataset looked at for a cover's curve (newest first)
_LOOK_AT = 50


@dataclass(frozen=True)
class CurveRow:
    """A row of a curve's table: ``size`` centres (``fraction`` of the rows) at ``eta``, and
    per class (in the order of the curve's ``classes``) its centres there."""

    eta: float
    size: int
    fraction: float
    class_sizes: list[int]


@dataclass(frozen=True)
class CurveSummary:
    """Everything the curve page shows, computed once per curve."""

    curve: CurveOut
    job: JobRow
    rows: list[CurveRow]
    plot: CurvePlot

    @property
    def class_columns(self) -> bool:
        """Whether the table has a column per class (labelled, at most ``MAX_CLASS_COLUMNS``)."""
        return self.curve.labels is not None and len(self.curve.classes) <= MAX_CLASS_COLUMNS

    def plot_with(self, eta: float, size: int) -> CurvePlot:
        """The plot with a cover's (eta, size) marked on it."""
        c = self.curve
        return curve_plot(c.etas, c.sizes, c.n, mark=(eta, size))


def curve_summary(store: Store, curve_id: str) -> CurveSummary:
    """Read a curve's JSON into what its page shows.

    Raises
    ------
    NotFound
        Unknown curve (no succeeded curve job has it), or its file is gone or unreadable.
    """
    job = store.get_curve_job(curve_id)
    path = store.curve_path(curve_id)
    if not path.is_file():
        raise NotFound(f"curve {curve_id} has no file")
    try:
        c = CurveOut.model_validate_json(path.read_bytes())
        plot = curve_plot(c.etas, c.sizes, c.n)
    except (ValidationError, ValueError) as exc:
        raise NotFound(f"curve {curve_id}'s file is unreadable: {exc}") from None
    by_radius = list(zip(*c.class_sizes, strict=True)) if c.class_sizes else []
    rows = [
        CurveRow(e, s, f, list(by_radius[j]) if by_radius else [])
        for j, (e, s, f) in enumerate(zip(c.etas, c.sizes, c.fractions, strict=True))
    ]
    return CurveSummary(c, job, rows, plot)


class CurveCache(SummaryCache[CurveSummary]):
    """Summaries of the most recently viewed curves."""

    def __init__(self, size: int = 32) -> None:
        super().__init__(curve_summary, lambda st, cid: st.get_curve_job(cid), size)


def matching_curve(store: Store, dataset: str, labels: str | None, metric: str) -> JobRow | None:
    """The newest succeeded curve job of ``dataset`` with the same ``labels`` (or none) and
    ``metric`` whose file is there, or None."""
    same_labels = col(JobRow.labels).is_(None) if labels is None else col(JobRow.labels) == labels
    with Session(store.engine, expire_on_commit=False) as s:
        jobs = s.exec(
            select(JobRow)
            .where(
                JobRow.kind == "curve",
                JobRow.status == "succeeded",
                JobRow.dataset == dataset,
                same_labels,
            )
            .order_by(col(JobRow.finished_at).desc())
            .limit(_LOOK_AT)
        ).all()
    for job in jobs:
        if (
            job_params(job).get("metric", "l2") == metric
            and store.curve_path(job.cover_id).is_file()
        ):
            return job
    return None


@dataclass(frozen=True)
class CurveItem:
    """A line of the overview's list of curves."""

    id: str
    job_id: str
    radii: int
    metric: str
    dataset: str
    labels: str | None
    finished_at: float | None


def list_curves(store: Store, page: int = 1) -> Paged[CurveItem]:
    """Succeeded curve jobs, newest first."""
    done = (JobRow.kind == "curve", JobRow.status == "succeeded")
    with Session(store.engine, expire_on_commit=False) as s:
        total = int(s.exec(select(func.count()).select_from(JobRow).where(*done)).one())
        pages = max(1, -(-total // PAGE))
        p = min(max(page, 1), pages)
        jobs = s.exec(
            select(JobRow)
            .where(*done)
            .order_by(col(JobRow.finished_at).desc())
            .offset((p - 1) * PAGE)
            .limit(PAGE)
        ).all()
    items = [
        CurveItem(
            j.cover_id,
            j.id,
            j.total,
            str(job_params(j).get("metric", "l2")),
            j.dataset,
            j.labels,
            j.finished_at,
        )
        for j in jobs
    ]
    return Paged(items, p, pages, total)
