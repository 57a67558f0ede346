"""The registry of radius-mode methods: a name -> the solver of one class.

A method is a function ``(ClassProblem) -> ClassResult`` (:mod:`covering.api.problem`): it
gets one class's prepared rows and options (and :meth:`~covering.api.problem.ClassProblem.graph`,
the class's exact eta-graph, if it wants it) and returns its centres and each row's centre; the
assignment check, the weights and the exact verification are common. Adding one is a module
here and a line in :data:`REGISTRY`; :data:`METHODS` (the names :func:`covering.cover`, the CLI
and the service accept) follows from it.
"""

from __future__ import annotations

from covering.api.methods import kcenter, net, setcover
from covering.api.problem import Method

__all__ = ["METHODS", "REGISTRY"]

#: method name -> solver of one class (radius mode), in the order the names are listed
REGISTRY: dict[str, Method] = {
    "auto": setcover.solve,
    "greedy": setcover.solve,
    "net": net.solve,
    "milp": setcover.solve,
    "kcenter": kcenter.solve,
}
#: the methods :func:`covering.cover` accepts
METHODS = tuple(REGISTRY)
