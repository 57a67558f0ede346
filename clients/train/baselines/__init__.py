"""Training-set selection at an equal budget per class: MFC, DM, random, k-center, full."""

from __future__ import annotations

from clients.train.baselines.kcenter import kcenter_subset
from clients.train.baselines.mfc import budget_cover
from clients.train.baselines.random import check_budget, random_subset

__all__ = ["budget_cover", "check_budget", "kcenter_subset", "random_subset"]
