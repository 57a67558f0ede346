"""Benchmarks and load tests of covering: development tools, not part of the runtime packages.

- ``covering bench`` (:mod:`bench.cli`, a ``covering.commands`` plugin like ``serve`` and
  ``train``): the engine against its baselines on the same data (:mod:`bench.runner`,
  :mod:`bench.baselines`, :mod:`bench.data`, :mod:`bench.report`); records in
  ``bench/results/`` (``bench/README.md``).
- ``python -m bench.loadtest``: a bounded load test of a running service
  (:mod:`bench.loadtest`).
"""
