"""Job worker threads owned by the app: take queued jobs from the database and run them.

Progress from the engine goes to the database (throttled); cancelling a job makes the progress
callback raise, which unwinds the engine. At start-up, jobs a crash left ``running`` are queued
again, so ``kill -9`` loses no job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict

from service.jobs import Progress, run_add_points, run_cover, run_curve
from service.metrics import Metrics
from service.models import FINAL_STATES, JobRow
from service.settings import Settings
from service.store import Store

__all__ = ["JobCancelled", "Notifier", "Worker"]

log = logging.getLogger(__name__)

_PROGRESS_EVERY_S = 0.25
_IDLE_POLL_S = 0.5


class JobCancelled(Exception):
    """Raised inside a running job when it was cancelled."""


class _ShuttingDown(Exception):
    """Raised inside a running job when the service stops: the job is queued again."""


class Notifier:
    """Lets request handlers await the end of a job that a worker thread runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(list)
        )

    def register(self, job_id: str) -> asyncio.Event:
        ev = asyncio.Event()
        with self._lock:
            self._waiters[job_id].append((asyncio.get_running_loop(), ev))
        return ev

    def unregister(self, job_id: str, ev: asyncio.Event) -> None:
        with self._lock:
            lst = self._waiters.get(job_id, [])
            self._waiters[job_id] = [(lp, e) for lp, e in lst if e is not ev]
            if not self._waiters[job_id]:
                del self._waiters[job_id]

    def notify(self, job_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, []))
        for loop, ev in waiters:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(ev.set)


class Worker:
    """``settings.workers`` threads running jobs one at a time each.

    Parameters
    ----------
    store : Store
    settings : Settings
    metrics : Metrics
    notifier : Notifier
    """

    def __init__(
        self, store: Store, settings: Settings, metrics: Metrics, notifier: Notifier
    ) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.notifier = notifier
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._cancel: set[str] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Re-queue interrupted jobs and start the threads."""
        n = self.store.recover()
        if n:
            log.info("%d job(s) queued at start-up", n)
        for i in range(self.settings.workers):
            t = threading.Thread(target=self._loop, name=f"covering-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads; running jobs are interrupted at their next progress report and
        queued again for the next start."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("worker threads still busy at shutdown: %s", ", ".join(alive))
        self._threads.clear()

    def wake(self) -> None:
        """Tell idle threads that a job was queued."""
        with self._wake:
            self._wake.notify_all()

    def cancel(self, job_id: str) -> None:
        """Ask the thread running ``job_id`` to stop it."""
        self._cancel.add(job_id)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim_next()
            except Exception:
                log.exception("could not read the job queue")
                job = None
            if job is None:
                with self._wake:
                    self._wake.wait(_IDLE_POLL_S)
                continue
            self._run(job)

    def _progress(self, job: JobRow) -> Progress:
        last = [0.0, -1.0]
        last_stage = [""]

        def report(stage: str, done: int, total: int) -> None:
            if self._stop.is_set():
                raise _ShuttingDown()
            if job.id in self._cancel:
                raise JobCancelled()
            now = time.monotonic()
            if stage != last_stage[0] or now - last[0] >= _PROGRESS_EVERY_S:
                last[0] = now
                last_stage[0] = stage
                self.store.set_progress(job.id, stage, done, total)

        return report

    def _run(self, job: JobRow) -> None:
        t0 = time.monotonic()
        report = self._progress(job)
        status, error = "failed", None
        try:
            if job.cancel_requested:
                raise JobCancelled()
            self._delay(report)
            if job.kind == "curve":  # its JSON, no cover
                status, error = self._run_curve(job, report)
            else:
                run = run_cover if job.kind == "cover" else run_add_points
                row = run(self.store, self.settings, job, report)
                if self.store.complete_job(job.id, row):
                    status = "succeeded"
                else:  # cancelled after its last progress report: the cover is not kept
                    for path in (
                        self.store.manifest_path(row.id),
                        self.store.arrays_path(row.id),
                    ):
                        path.unlink(missing_ok=True)
                    status, error = "cancelled", "cancelled"
        except JobCancelled:
            status, error = "cancelled", "cancelled"
        except _ShuttingDown:
            status = "queued"
        except (ValueError, KeyError) as exc:  # the engine's answer to bad input
            error = str(exc) or type(exc).__name__
        except Exception as exc:
            log.exception("job %s failed", job.id)
            error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            self._cancel.discard(job.id)
        if status != "succeeded":
            try:
                self.store.finish_job(job.id, status, error)
            except Exception:
                log.exception("could not record the end of job %s", job.id)
        if status in FINAL_STATES:
            self.metrics.job_finished(job.kind, status, time.monotonic() - t0)
            log.info(
                "job %s %s in %.2fs%s",
                job.id,
                status,
                time.monotonic() - t0,
                f": {error}" if error else "",
            )
        self.notifier.notify(job.id)

    def _run_curve(self, job: JobRow, report: Progress) -> tuple[str, str | None]:
        path, radii = run_curve(self.store, job, report)
        if self.store.complete_curve(job.id, radii):
            return "succeeded", None
        path.unlink(missing_ok=True)  # cancelled after its last progress report
        return "cancelled", "cancelled"

    def _delay(self, report: Progress) -> None:
        delay = self.settings.job_delay_s
        if delay <= 0:
            return
        end = time.monotonic() + delay
        total_ms = int(delay * 1000)
        while (left := end - time.monotonic()) > 0:
            report("delay", total_ms - int(left * 1000), total_ms)
            time.sleep(min(0.05, left))
