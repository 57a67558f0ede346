"""The FAISS indexes of the range searches: the choice of index and the IVF's exact list pruning.

Large candidate sets (``index="ivf"``, or ``"auto"`` above :data:`FLAT_MAX` rows) use an IVF
index whose lists are chosen per query by the triangle inequality (a list is scanned only if
its ball can reach the query's eta-ball), so it misses no pair up to float32 slack; a miss could
only cost cover size, never validity. ``"auto"`` falls back to the flat (BLAS) index when a
sample shows that pruning cannot pay (wide neighbourhoods, e.g. MNIST at eta = 6).
"""

from __future__ import annotations

import logging

import faiss
import numpy as np

from covering.metrics import FaissView, pow2_scale

__all__ = [
    "DENSE_REACH",
    "FLAT_MAX",
    "INDEXES",
    "IVF_KMEANS_ITERS",
    "IVF_LIST_SIZE",
    "IVF_MAX_SCAN",
    "IVF_TRAIN_PER_LIST",
    "add_lists",
    "check_index",
    "empty_index",
    "index_kind",
    "make_index",
    "probe_keys",
]

log = logging.getLogger(__name__)

#: ``index="auto"``: classes up to this many rows use the flat index; larger ones an IVF index
#: with exact (triangle-inequality) list pruning, unless it would scan more than
#: ``IVF_MAX_SCAN`` of the rows per query (then flat BLAS brute force is faster)
FLAT_MAX = 4_000
#: IVF: rows per inverted list (nlist = m // IVF_LIST_SIZE). Training, assignment and list
#: selection cost O(m * nlist * d), the scans O(m * lists reached * IVF_LIST_SIZE * d): on a
#: 100,000-row mixture class 256 was 15% faster than 128 in all and 512 twice as slow
IVF_LIST_SIZE = 256
#: IVF: k-means iterations and training rows per list (the lists only need to be compact)
IVF_KMEANS_ITERS = 4
IVF_TRAIN_PER_LIST = 20
#: IVF: largest fraction of the rows a query may scan before flat search is preferred
IVF_MAX_SCAN = 0.3
#: ``index="auto"``: flat without training an IVF when a sample has more than
#: ``IVF_MAX_SCAN`` of the rows within ``DENSE_REACH * eta`` of a row (a list of radius ~eta
#: within reach of a query; e.g. MNIST at eta = 6: ~100%, the synthetic mixture: ~1-10%)
DENSE_REACH = 3.0
#: the indexes a caller may ask for
INDEXES = ("auto", "flat", "ivf")


def check_index(index: object) -> str:
    """``index`` if it is one of :data:`INDEXES`, else a ``ValueError`` naming them."""
    if not isinstance(index, str) or index not in INDEXES:
        raise ValueError(f"unknown index {index!r}: expected auto, flat or ivf")
    return index


def make_index(C32: np.ndarray, view: FaissView, kind: str, *, seed: int = 0) -> faiss.Index:
    """A FAISS index over the float32 rows ``C32`` (shape (m, d)).

    ``kind`` is ``"flat"`` (exact brute force) or ``"ivf"`` (IVF-Flat with about
    ``IVF_LIST_SIZE`` rows per list). The IVF index is only a container here:
    :class:`covering.graph.RangeIndex` chooses the lists to scan per query with the triangle
    inequality, so its range searches miss no pair (see :func:`probe_keys`); its candidate
    distances are flat float32 distances, so the same error bound applies.
    """
    index = empty_index(C32, view, kind, seed=seed)
    if isinstance(index, faiss.IndexIVF):
        add_lists(index, C32, None)
    else:
        index.add(C32)
    return index


def empty_index(C32: np.ndarray, view: FaissView, kind: str, *, seed: int) -> faiss.Index:
    """A flat index, or an IVF index trained on a sample of ``C32`` (no rows added yet)."""
    d = C32.shape[1]
    metric = faiss.METRIC_Linf if view.faiss_metric == "linf" else faiss.METRIC_L2
    m = C32.shape[0]
    if kind == "flat" or m < 2 * IVF_LIST_SIZE or view.faiss_metric == "linf":
        return faiss.IndexFlat(d, metric)
    nlist = max(2, m // IVF_LIST_SIZE)
    quantizer = faiss.IndexFlat(d, metric)
    ivf = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
    ivf.cp.seed = seed
    ivf.cp.niter = IVF_KMEANS_ITERS
    ivf.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
    ivf.cp.min_points_per_centroid = 1  # a small sample is deliberate: no FAISS warning
    rng = np.random.default_rng(seed)
    size = min(m, IVF_TRAIN_PER_LIST * nlist)
    train = C32[np.sort(rng.choice(m, size=size, replace=False))] if size < m else C32
    ivf.train(np.ascontiguousarray(train))
    return ivf


def add_lists(ivf: faiss.IndexIVF, C32: np.ndarray, radii: np.ndarray | None) -> np.ndarray:
    """Add the rows ``C32`` (float32 (m, d)) to their nearest lists.

    Returns each list's radius (float64 (nlist,)): the largest L2 distance, in FAISS's float32
    arithmetic, from its centroid to a row assigned to it, merged with the earlier ``radii``.
    One quantizer search per row serves both the assignment and the radii."""
    from faiss.contrib.ivf_tools import add_preassigned

    out = np.zeros(int(ivf.nlist)) if radii is None else radii.copy()
    step = 1 << 16
    for s in range(0, C32.shape[0], step):
        block = np.ascontiguousarray(C32[s : s + step])
        D, Ind = ivf.quantizer.search(block, 1)
        lists = np.ascontiguousarray(Ind[:, 0], dtype=np.int64)
        ids = np.arange(ivf.ntotal, ivf.ntotal + block.shape[0], dtype=np.int64)
        add_preassigned(ivf, block, lists, ids)
        np.maximum.at(out, lists, np.sqrt(np.maximum(D[:, 0].astype(np.float64), 0.0)))
    return out


def probe_keys(
    ivf: faiss.IndexIVF, q32: np.ndarray, radius: float, radii: np.ndarray, slack: float
) -> np.ndarray:
    """Lists each query must scan so that no point within ``radius`` is missed.

    A list ``j`` with centroid ``c_j`` and radius ``r_j`` can hold a point ``x`` with
    ``|q - x| <= R`` only if ``|q - c_j| <= R + r_j`` (triangle inequality); ``slack`` absorbs
    float32 rounding. Returns int64 (nq, width): the lists to scan, padded with -1 (skipped by
    FAISS).

    Parameters
    ----------
    ivf : faiss.IndexIVF
    q32 : ndarray of float32, shape (nq, d)
    radius : float
        Squared L2 radius (FAISS units).
    radii : ndarray of float64, shape (nlist,)
    slack : float
        L2 units.
    """
    nlist = int(ivf.nlist)
    cent = ivf.quantizer.reconstruct_n(0, nlist)
    qn = np.einsum("ij,ij->i", q32, q32, dtype=np.float64)
    cn = np.einsum("ij,ij->i", cent, cent, dtype=np.float64)
    reach = np.sqrt(max(radius, 0.0)) + radii + slack
    # |q - c|^2 = qn + cn - 2 q.c <= reach^2  <=>  q.c >= (qn + cn - reach^2) / 2
    ok = (q32 @ cent.T) >= 0.5 * (qn[:, None] + (cn - reach * reach)[None, :])
    r, c = np.nonzero(ok)  # row-major: rows ascending, lists ascending within a row
    counts = np.bincount(r, minlength=q32.shape[0])
    keys = np.full((q32.shape[0], max(1, int(counts.max(initial=0)))), -1, dtype=np.int64)
    keys[r, np.arange(r.shape[0]) - (np.cumsum(counts) - counts)[r]] = c
    return keys


def is_dense(C: np.ndarray, eta: float, metric: str, seed: int) -> bool:
    """True when a sample says IVF list pruning would scan most of ``C`` (see DENSE_REACH)."""
    rng = np.random.default_rng(seed)
    m = C.shape[0]
    q = C[rng.choice(m, size=min(m, 64), replace=False)]
    c = C[rng.choice(m, size=min(m, 2048), replace=False)]
    s = pow2_scale(max(float(np.abs(q).max()), float(np.abs(c).max())))
    q, c = q / s, c / s  # unit scale: the squares below neither overflow nor vanish
    # L2 distances of the sample (cosine: between unit vectors; linf: never pruned by IVF)
    d2 = (q * q).sum(axis=1)[:, None] + (c * c).sum(axis=1)[None, :] - 2.0 * (q @ c.T)
    r = (float(np.sqrt(2.0 * eta)) if metric == "cosine" else float(eta)) / s
    frac = float(np.mean(d2 <= (DENSE_REACH * r) ** 2))
    log.debug("auto index: a sample has %.1f%% of rows within %g eta", 100 * frac, DENSE_REACH)
    return frac > IVF_MAX_SCAN


def index_kind(C: np.ndarray, metric: str, index: str, eta: float | None, seed: int) -> str:
    """``"flat"`` or ``"ivf"`` for ``index`` over the rows ``C`` (``"auto"``: flat up to
    ``FLAT_MAX`` rows, for L-inf, or when a sample at radius ``eta`` says pruning cannot pay)."""
    if index != "auto":
        return index
    if C.shape[0] <= FLAT_MAX or FaissView.of(metric).faiss_metric == "linf":
        return "flat"
    return "flat" if eta is not None and is_dense(C, eta, metric, seed) else "ivf"
