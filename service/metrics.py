"""Prometheus metrics of one app instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    """Job counters and durations, upload bytes, and queue depth.

    Parameters
    ----------
    queue_depth : callable returning int
        Read at every scrape for the ``covering_jobs_queued`` gauge.
    """

    def __init__(self, queue_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "covering_jobs",
            "Jobs finished, by kind and final status",
            ["kind", "status"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "covering_job_seconds",
            "Wall time of finished jobs",
            ["kind"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 7200),
            registry=self.registry,
        )
        self.upload_bytes = Counter(
            "covering_upload_bytes", "Bytes of datasets stored", registry=self.registry
        )
        self.queued = Gauge(
            "covering_jobs_queued", "Jobs waiting in the queue", registry=self.registry
        )
        self.queued.set_function(lambda: float(queue_depth()))

    def job_finished(self, kind: str, status: str, seconds: float) -> None:
        self.jobs.labels(kind=kind, status=status).inc()
        self.job_seconds.labels(kind=kind).observe(max(0.0, seconds))

    def render(self) -> bytes:
        """The text exposition format of every metric in this registry."""
        return generate_latest(self.registry)
