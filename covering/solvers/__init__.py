"""Set-cover solvers over eta-neighbour graphs (one module per method)."""

from covering.solvers.bounds import lower_bound
from covering.solvers.greedy import greedy_cover, remove_redundant
from covering.solvers.kcenter import allocate_budget, farthest_first, kcenter_cover
from covering.solvers.milp import MilpResult, milp_cover
from covering.solvers.net import net_cover

__all__ = [
    "MilpResult",
    "allocate_budget",
    "farthest_first",
    "greedy_cover",
    "kcenter_cover",
    "lower_bound",
    "milp_cover",
    "net_cover",
    "remove_redundant",
]
