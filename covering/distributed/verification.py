"""Exact verification of a sharded cover on the driver, shard by shard in blocks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from covering.distributed.shards import BLOCK_ROWS, _Shard
from covering.result import Cover, CoverError
from covering.verify import verify

__all__: list[str] = []


def _verify_sharded(
    shards: Sequence[_Shard], offsets: np.ndarray, y: np.ndarray | None, cov: Cover
) -> None:
    """:func:`covering.verify` of a sharded cover without loading all rows at once.

    Global invariants (unique sorted indices, weights equal to assignment counts, centre
    labels) are checked here; every block of rows is then verified by :func:`covering.verify`
    on the block plus the centres it uses, with the centre rows read from the shards.
    """
    n, m = cov.n, cov.size
    idx, a = cov.indices, cov.assignment
    if m == 0 or idx.min() < 0 or idx.max() >= n or np.any(np.diff(idx) <= 0):
        raise CoverError("centre indices must be unique, sorted and within range")
    if a.shape != (n,) or a.min() < 0 or a.max() >= m:
        raise CoverError("assignment has the wrong shape or points outside the centres")
    if not np.array_equal(cov.weights, np.bincount(a, minlength=m)):
        raise CoverError("weights do not equal the number of rows assigned to each centre")
    if y is not None and (cov.labels is None or not np.array_equal(cov.labels, y[idx])):
        raise CoverError("a centre's label differs from the label of its row")
    # centre rows, read from the data (not from what the tasks reported)
    which = np.searchsorted(offsets, idx, side="right") - 1
    centre_rows = np.empty((m, cov.dim), dtype=np.dtype(cov.dtype))
    for si, s in enumerate(shards):
        sel = np.flatnonzero(which == si)
        if sel.size:
            centre_rows[sel] = s.read()[idx[sel] - offsets[si]]
    for si, s in enumerate(shards):
        X = s.read()
        for b in range(0, s.n, BLOCK_ROWS):
            e = min(s.n, b + BLOCK_ROWS)
            g0, g1 = int(offsets[si]) + b, int(offsets[si]) + e
            used, local = np.unique(a[g0:g1], return_inverse=True)
            Xl = np.concatenate([np.asarray(X[b:e]), centre_rows[used]])
            nb, u = e - b, used.shape[0]
            al = np.concatenate([local.astype(np.int64), np.arange(u, dtype=np.int64)])
            yl = None if y is None else np.concatenate([y[g0:g1], y[idx[used]]])
            block = Cover(
                indices=np.arange(nb, nb + u, dtype=np.int64),
                weights=np.bincount(al, minlength=u).astype(np.int64),
                assignment=al,
                labels=None if yl is None else yl[nb:],
                eta=cov.eta,
                radius=cov.radius,
                metric=cov.metric,
                method=cov.method,
                n=nb + u,
                dim=cov.dim,
                lower_bound=None,
                fingerprint="",
            )
            try:
                verify(Xl, block, yl)
            except CoverError as exc:
                raise CoverError(
                    f"shard {si}, rows {b}..{e - 1} (global {g0}..{g1 - 1}): {exc}"
                ) from None
