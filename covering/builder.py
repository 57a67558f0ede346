"""``CoverBuilder``: keep a valid cover while rows arrive, without recomputing from scratch."""

from __future__ import annotations

import time

import numpy as np

from covering.api import check_eta_k, solve_radius, validate_labels, validate_X
from covering.fingerprint import fingerprint
from covering.metrics import check_metric, prepare
from covering.progress import Reporter
from covering.result import Cover
from covering.solvers.net import Net
from covering.verify import assigned_distances, verify

__all__ = ["CoverBuilder"]


class CoverBuilder:
    """Incremental cover: new rows join a centre within eta or become centres (an eta-net).

    Parameters
    ----------
    dim : int
        Number of columns of every chunk.
    eta : float
        Cover radius.
    metric : {"l2", "linf", "cosine"}

    Examples
    --------
    >>> b = CoverBuilder(dim=64, eta=3.0)
    >>> for X_chunk, y_chunk in chunks:          # doctest: +SKIP
    ...     b.add(X_chunk, y_chunk)
    >>> b.refine()                               # doctest: +SKIP
    >>> cov = b.cover()                          # doctest: +SKIP
    """

    def __init__(self, dim: int, eta: float, metric: str = "l2") -> None:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        e, _ = check_eta_k(eta, None)
        assert e is not None
        self.dim = int(dim)
        self.eta = e
        self.metric = check_metric(metric)
        self._chunks: list[np.ndarray] = []
        # labels as given (their fingerprint is of these bytes), int64 zeros when unlabelled
        self._labels: list[np.ndarray] = []
        self._labelled: bool | None = None
        self._dtype: np.dtype | None = None
        self._nets: dict[int, Net] = {}
        self._centre_of: list[np.ndarray] = []
        self._touched: set[int] = set()
        self._refined = False
        self._n = 0

    @property
    def n(self) -> int:
        """Rows added so far."""
        return self._n

    @property
    def size(self) -> int:
        """Current number of centres."""
        return sum(net.n_centres for net in self._nets.values())

    def add(self, X_chunk: np.ndarray, labels_chunk: np.ndarray | None = None) -> CoverBuilder:
        """Add rows; each joins the nearest centre within eta or becomes a centre.

        Parameters
        ----------
        X_chunk : ndarray, shape (b, dim), float
        labels_chunk : ndarray of int, shape (b,), optional
            Required if and only if earlier chunks had labels.

        Returns
        -------
        CoverBuilder
            ``self``.
        """
        Xc = validate_X(X_chunk)
        if Xc.shape[1] != self.dim:
            raise ValueError(f"chunk has {Xc.shape[1]} columns, the builder has dim={self.dim}")
        if self._dtype is not None and Xc.dtype != self._dtype:
            raise ValueError(f"chunk dtype {Xc.dtype} differs from earlier chunks ({self._dtype})")
        labelled = labels_chunk is not None
        if self._labelled is not None and labelled != self._labelled:
            raise ValueError("either every chunk has labels or none has")
        b = Xc.shape[0]
        y = validate_labels(labels_chunk, b) if labels_chunk is not None else np.zeros(b, np.int64)
        Xc = np.array(Xc, copy=True)
        centre_of = np.empty(b, dtype=np.int64)
        # every class is prepared (and so checked, e.g. zero rows under cosine) before any
        # state changes: a chunk that is refused leaves the builder as it was
        parts = [
            (int(v), local, prepare(Xc[local], self.metric))
            for v in np.unique(y)
            for local in [np.flatnonzero(y == v)]
        ]
        for v, local, Z in parts:
            net = self._nets.get(v)
            if net is None:
                net = self._nets[v] = Net(self.dim, self.eta, self.metric)
            cen, _ = net.add(Z, self._n + local)
            centre_of[local] = cen
            self._touched.add(v)
        self._chunks.append(Xc)
        self._labels.append(np.array(labels_chunk, copy=True) if labelled else y)
        self._centre_of.append(centre_of)
        self._labelled = labelled
        self._dtype = Xc.dtype
        self._n += b
        self._refined = False
        return self

    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._chunks:
            raise ValueError("no rows added yet")
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
            self._labels = [np.concatenate(self._labels)]
            self._centre_of = [np.concatenate(self._centre_of)]
        return self._chunks[0], self._labels[0].astype(np.int64, copy=False)

    def refine(self, *, progress: bool = False) -> Cover:
        """Re-solve the classes touched since the last refine with the greedy solver.

        Returns
        -------
        Cover
            The refined (verified) cover, which also becomes the builder's state.
        """
        X, y = self._all()
        centre_of = self._centre_of[0]
        report = Reporter(progress)
        for v in sorted(self._touched):
            rows = np.flatnonzero(y == v)
            Z = prepare(X[rows], self.metric)
            res = solve_radius(
                Z,
                self.eta,
                self.metric,
                "greedy",
                seed=0,
                time_limit=None,
                bound=False,
                index="auto",
                report=report,
                base=0,
                total=rows.shape[0],
            )
            net = Net(self.dim, self.eta, self.metric)
            net.extend_centres(Z[res.centres], rows[res.centres])
            self._nets[v] = net
            centre_of[rows] = rows[res.centre_of]
        report.close()
        self._touched.clear()
        self._refined = True
        return self.cover()

    def cover(self) -> Cover:
        """The current cover of all rows added so far (verified)."""
        t0 = time.perf_counter()
        X, y = self._all()
        centre_of = self._centre_of[0]
        indices = np.unique(centre_of)
        assignment = np.searchsorted(indices, centre_of).astype(np.int64)
        dist = assigned_distances(X, centre_of, self.metric)
        labelled = bool(self._labelled)
        result = Cover(
            indices=indices,
            weights=np.bincount(assignment, minlength=indices.shape[0]).astype(np.int64),
            assignment=assignment,
            labels=y[indices] if labelled else None,
            eta=self.eta,
            radius=float(dist.max()),
            metric=self.metric,
            method="greedy" if self._refined else "net",
            n=self._n,
            dim=self.dim,
            lower_bound=None,
            fingerprint=fingerprint(X),
            labels_fingerprint=fingerprint(self._labels[0]) if labelled else None,
            distances=dist,
            dtype=str(X.dtype),
            seconds=time.perf_counter() - t0,
        )
        verify(X, result, y if labelled else None)
        return result

    @classmethod
    def from_cover(
        cls, X: np.ndarray, cover: Cover, labels: np.ndarray | None = None
    ) -> CoverBuilder:
        """A builder whose state is an existing (verified) cover of ``X``."""
        Xv = validate_X(X)
        y = validate_labels(labels, Xv.shape[0]) if labels is not None else None
        verify(Xv, cover, y)
        b = cls(cover.dim, cover.eta, cover.metric)
        Xc = np.array(Xv, copy=True)
        yy = y if y is not None else np.zeros(Xv.shape[0], dtype=np.int64)
        centre_of = cover.indices[cover.assignment].astype(np.int64)
        for v in np.unique(yy):
            cen = cover.indices[yy[cover.indices] == v]
            net = Net(b.dim, b.eta, b.metric)
            net.extend_centres(prepare(Xc[cen], b.metric), cen)
            b._nets[int(v)] = net
        raw = np.array(labels, copy=True) if labels is not None else yy
        b._chunks, b._labels, b._centre_of = [Xc], [raw], [centre_of]
        b._labelled = y is not None
        b._dtype = Xc.dtype
        b._n = Xv.shape[0]
        return b
