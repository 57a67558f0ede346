"""``cover()`` and its parts.

- :mod:`~covering.api.validate`: the checks of the arguments at the boundary;
- :mod:`~covering.api.methods`: the registry of radius-mode methods (a method is one module and
  one line there; :data:`METHODS` follows from it), over :mod:`~covering.api.problem` (what a
  method gets and returns);
- :mod:`~covering.api.solve`: per-class solving in radius mode (:func:`solve_radius`);
- :mod:`~covering.api.budget`: budget mode (:func:`split_budget`, the k-center cover);
- :mod:`~covering.api.assemble`: the verified :class:`covering.Cover` (:func:`assemble_cover`);
- :mod:`~covering.api.core`: :func:`cover` itself, a thin driver of the above.

The graph backends (:data:`BACKENDS`) are chosen in :mod:`covering.graph.build`.
"""

from __future__ import annotations

from covering.api.assemble import assemble_cover
from covering.api.budget import split_budget
from covering.api.core import cover
from covering.api.methods import METHODS
from covering.api.solve import solve_radius as solve_radius
from covering.api.validate import check_eta_k as check_eta_k
from covering.api.validate import validate_labels, validate_X
from covering.graph.build import BACKENDS

__all__ = [
    "BACKENDS",
    "METHODS",
    "assemble_cover",
    "cover",
    "split_budget",
    "validate_X",
    "validate_labels",
]
