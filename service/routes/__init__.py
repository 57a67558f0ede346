"""HTTP routes: datasets, covers (and the one-call form), jobs, health and metrics."""

from service.routes import covers, datasets, jobs, system

__all__ = ["covers", "datasets", "jobs", "system"]
