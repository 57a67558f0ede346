"""Covers of sharded data on a Ray cluster, with the exact guarantee kept end to end (extra [ray]).

The data never has to fit on one machine; every step is a Ray task over one shard:

1. **local covers** - each shard is covered on its own (:func:`covering.cover`, greedy; one GPU
   per task when the cluster has GPUs). The union of the local centres is the *candidate set*;
   it always admits a cover, since each shard is covered by its own centres.
2. **coverage lists** - the candidates (rows, labels) are broadcast once with ``ray.put``; each
   shard lists, for every one of its rows, the candidates of the same label within ``eta``
   (the canonical float64 decision of :class:`covering.graph.RangeIndex`, the same as
   :func:`covering.verify`'s) and returns them as compact CSR
   arrays (int32 where possible).
3. **set cover** - the driver solves set cover over the candidates on those lists
   (:func:`covering.solvers.greedy_cover`: lazy greedy, then redundancy removal).
4. **assignment** - each shard assigns its rows to their nearest chosen candidate within
   ``eta`` and returns their canonical distances (:func:`covering.metrics.exact_distances`).

The driver assembles an ordinary :class:`covering.Cover` (global row indices, weights,
fingerprints equal to those of the concatenated data) and verifies it exactly, shard by shard in
blocks, before returning it. Communication volume (bytes of the candidate gather and broadcast,
of the coverage lists and of the assignments) is logged and kept on the result
(:class:`ShardedCover`, field ``comm``; as a dict: :func:`comm_stats`) and, as text, in
``Cover.notes``.

Modules: :mod:`~covering.distributed.params` (arguments and their checks),
:mod:`~covering.distributed.shards` (reading and cutting the inputs),
:mod:`~covering.distributed.session` (the Ray connection), :mod:`~covering.distributed.tasks`
(the Ray tasks), :mod:`~covering.distributed.driver` (:func:`cover_shards`),
:mod:`~covering.distributed.verification` and :mod:`~covering.distributed.stats`.

Only this package imports Ray (on import, so a missing Ray is an ``ImportError`` naming the
``[ray]`` extra, which ``covering cover --ray`` reports as a one-line error); ``covering``
itself never imports it and works without it.
"""

from __future__ import annotations

try:
    import ray  # noqa: F401  # first: without Ray, say which extra is missing
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("covering.distributed needs Ray: pip install 'covering[ray]'") from exc

from covering.distributed.driver import cover_shards
from covering.distributed.stats import CommStats, ShardedCover, comm_stats

__all__ = ["CommStats", "ShardedCover", "comm_stats", "cover_shards"]
