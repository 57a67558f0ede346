"""Training data and cover manifests: load a dataset, load a manifest (file, id or URL), refuse
a manifest computed on other data, and turn it into a weighted training set."""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from clients.train.mnist import mnist_source, read_mnist
from covering import fingerprint, verify, verify_centres
from covering.errors import one_line
from covering.manifest import Manifest

__all__ = [
    "Dataset",
    "Selection",
    "check_fingerprint",
    "image_shape",
    "load_data",
    "load_manifest",
    "selection_from_manifest",
]

log = logging.getLogger(__name__)

#: most classes a training set may have (labels must be 0..C-1 with C at most this)
MAX_CLASSES = 10_000


@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset with flat rows in [0, 1].

    Attributes
    ----------
    name : str
    X_train : ndarray of float32, shape (n, d)
    y_train : ndarray of int64, shape (n,)
    X_test : ndarray of float32, shape (t, d)
    y_test : ndarray of int64, shape (t,)
    shape : (int, int, int)
        ``(channels, height, width)`` with ``c * h * w == d``.
    n_classes : int
    test_split : str
        ``"test"`` or ``"train"`` (when no test set was given, evaluation uses the training rows).
    labels_fingerprint : str or None
        ``covering.fingerprint`` of the training labels as loaded (before the int64 cast), as
        ``covering cover --labels`` computes it.
    origin : str
        Where the data came from, in words (e.g. ``MNIST from the cache ~/.cache/...``).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    shape: tuple[int, int, int]
    n_classes: int
    test_split: str = "test"
    labels_fingerprint: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class Selection:
    """A (weighted) training subset: rows of the training set or synthetic images.

    Attributes
    ----------
    X : ndarray of float32, shape (m, d)
    y : ndarray of int64, shape (m,)
    weights : ndarray of float64, shape (m,)
        Per-sample loss weights (cover: number of points each centre stands for; else ones).
    indices : ndarray of int64, shape (m,) or None
        Rows of the training set (None for synthetic data).
    eta : float or None
        Cover radius (``params.eta``, or ``stats.radius`` in budget mode).
    metric : str or None
    """

    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    indices: np.ndarray | None = None
    eta: float | None = None
    metric: str | None = None

    @property
    def size(self) -> int:
        """Number of training points."""
        return int(self.X.shape[0])


def image_shape(dim: int, shape: str | None = None) -> tuple[int, int, int]:
    """``(c, h, w)`` for flat rows of length ``dim``: ``shape`` like ``"3,32,32"``, else a
    single-channel square image."""
    if shape:
        try:
            parts = tuple(int(p) for p in shape.split(","))
        except ValueError:
            raise ValueError(f"image shape must be C,H,W integers, got {shape!r}") from None
        if len(parts) != 3 or math.prod(parts) != dim or min(parts) < 1:
            raise ValueError(f"image shape {shape!r} does not have {dim} values")
        return parts[0], parts[1], parts[2]
    s = math.isqrt(dim)
    if s * s != dim:
        raise ValueError(
            f"rows of length {dim} are not square images: pass the image shape "
            "(e.g. --image-shape 3,32,32)"
        )
    return 1, s, s


def _check_xy(X: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{what}: need X (n, d) and y (n,), got {X.shape} and {y.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{what}: no data (X has shape {X.shape})")
    if not np.issubdtype(X.dtype, np.floating):
        raise ValueError(f"{what}: X must be floating point, got {X.dtype}")
    if y.dtype == np.bool_:  # two classes, as the engine accepts them
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: labels must be integers (or bool), got {y.dtype}")
    Xf = np.asarray(X)
    if not np.isfinite(Xf).all():
        raise ValueError(f"{what}: X has NaN or inf values")
    if Xf.min() < 0 or Xf.max() > 1:
        raise ValueError(
            f"{what}: pixel values must lie in [0, 1] (got [{Xf.min():.3g}, {Xf.max():.3g}])"
        )
    if y.min() < 0 or y.max() >= MAX_CLASSES:
        raise ValueError(
            f"{what}: labels must be classes 0..C-1 with C <= {MAX_CLASSES} "
            f"(got {y.min()}..{y.max()})"
        )
    return Xf, y.astype(np.int64)


def load_data(
    dataset: str,
    *,
    labels: str | Path | None = None,
    test_x: str | Path | None = None,
    test_y: str | Path | None = None,
    shape: str | None = None,
) -> Dataset:
    """Load ``mnist``, ``digits``, ``auto``, an MNIST IDX directory, or ``X.npy`` (+ labels).

    Parameters
    ----------
    dataset : str
        A name, a directory holding MNIST IDX files, or a ``.npy`` file of rows (n, d).
    labels : path, optional
        ``y.npy`` (n,) integers; required with a ``.npy`` dataset.
    test_x, test_y : path, optional
        Test arrays for a ``.npy`` dataset (else evaluation uses the training rows).
    shape : str, optional
        ``"C,H,W"`` of one image (default: one square channel).

    Raises
    ------
    ValueError
        Unknown dataset, missing, truncated or mismatched files, values outside [0, 1], labels
        not in 0..C-1 (C <= ``MAX_CLASSES``), a single class, test classes unseen in training,
        ``labels``/``test_x``/``test_y`` for a dataset that has its own.
    """
    from covering import data as cdata

    p = Path(dataset)
    split = "test"
    builtin = dataset in ("mnist", "digits", "auto") or p.is_dir()
    if builtin and (labels is not None or test_x is not None or test_y is not None):
        raise ValueError(
            f"--labels/--test-x/--test-y apply only to an X.npy dataset: {dataset} has its own "
            "labels and test split"
        )
    if dataset in ("mnist", "digits", "auto"):
        src, why = mnist_source(dataset == "mnist") if dataset != "digits" else (None, "")
        if src is not None:
            name, origin = "mnist", f"MNIST from {src.origin}"
            Xtr, ytr, Xte, yte = read_mnist(src.path)
        else:
            name, origin = "digits", "scikit-learn's 8x8 digits"
            if why:
                origin += f" (MNIST is unavailable: {why})"
            Xtr, ytr = cdata.load_dataset(name, "train")
            Xte, yte = cdata.load_dataset(name, "test")
    elif p.is_dir():
        name, origin = "mnist", f"MNIST IDX files in {p}"
        Xtr, ytr, Xte, yte = read_mnist(p)
    elif p.suffix == ".npy" and p.is_file():
        if labels is None:
            raise ValueError(f"{dataset}: a .npy dataset needs its labels (--labels y.npy)")
        name, origin = p.stem, str(p)
        Xtr = np.ascontiguousarray(cdata.load_npy(p, mmap=False))
        ytr = cdata.load_npy(labels, mmap=False)
        if (test_x is None) != (test_y is None):
            raise ValueError("give both --test-x and --test-y, or neither")
        if test_x is not None and test_y is not None:
            Xte, yte = cdata.load_npy(test_x, mmap=False), cdata.load_npy(test_y, mmap=False)
        else:
            Xte, yte, split = Xtr, ytr, "train"
    else:
        raise ValueError(
            f"unknown dataset {dataset!r}: expected mnist, digits, auto, an MNIST "
            "IDX directory or an X.npy file"
        )
    y_loaded = ytr
    Xtr, ytr = _check_xy(Xtr, ytr, f"{name} train")
    Xte, yte = _check_xy(Xte, yte, f"{name} test")
    if Xte.shape[1] != Xtr.shape[1]:
        raise ValueError(f"test rows have {Xte.shape[1]} values, training rows {Xtr.shape[1]}")
    classes = np.unique(ytr)
    if classes.size < 2:
        raise ValueError(f"{name}: the training labels have a single class: nothing to classify")
    unseen = np.setdiff1d(yte, classes)
    if unseen.size:
        raise ValueError(
            f"{name}: the test labels have classes {unseen[:5].tolist()} that do not occur in "
            "the training labels"
        )
    n_classes = int(classes[-1]) + 1
    shp = image_shape(Xtr.shape[1], shape)
    return Dataset(
        name, Xtr, ytr, Xte, yte, shp, n_classes, split, fingerprint(y_loaded), origin=origin
    )


def load_manifest(
    ref: str, *, server: str | None = None, token: str | None = None
) -> tuple[Manifest, dict[str, np.ndarray]]:
    """A cover manifest and its arrays from a JSON file, a URL ``.../covers/{id}``, or an id.

    Parameters
    ----------
    ref : str
        Path of a manifest JSON file (a payload ``.npz`` is read from beside it: the file its
        ``payload.url`` names, or ``<manifest stem>.npz``), a URL of a cover on a service, or a
        cover id (then ``server`` is needed).
    server, token : str, optional
        Base URL and bearer token of the service.

    Returns
    -------
    manifest : Manifest
    arrays : dict with ``indices`` and ``weights`` (int64 (m,)) and ``labels`` if any.
    """
    p = Path(ref)
    if p.is_file():
        try:
            m = Manifest.model_validate_json(p.read_bytes())
        except ValueError as exc:
            msg = one_line(exc, where="manifest")
            raise ValueError(f"{ref}: not a valid cover manifest: {msg}") from None
        if m.centres is not None:
            return m, m.arrays()
        assert m.payload is not None
        url_name = Path(urlparse(m.payload.url).path).name
        names = [n for n in (url_name, p.with_suffix(".npz").name) if n.endswith(".npz")]
        found = [p.parent / n for n in dict.fromkeys(names) if (p.parent / n).is_file()]
        if not found:
            raise ValueError(
                f"{ref}: its centres are in a payload ({m.payload.url}): put the .npz beside it "
                f"as {' or '.join(dict.fromkeys(names))}, or load the cover by URL/id (--server)"
            )
        npz = found[0]
        data = npz.read_bytes()
        if hashlib.sha256(data).hexdigest() != m.payload.sha256:
            raise ValueError(f"{npz}: sha256 differs from the manifest's payload")
        from covering.io import read_npz

        return m, read_npz(npz)
    try:
        parsed = urlparse(ref)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise ValueError(f"--manifest {ref!r}: {exc}") from None
    if parsed.scheme in ("http", "https"):
        parts = parsed.path.rstrip("/").split("/")
        if len(parts) < 2 or parts[-2] != "covers":
            raise ValueError(f"{ref}: expected a URL ending in /covers/<id>")
        base = f"{parsed.scheme}://{parsed.netloc}{'/'.join(parts[:-2])}"
        cover_id = parts[-1]
    elif server is not None and ref and "/" not in ref:
        base, cover_id = server, ref
    else:
        raise ValueError(f"manifest {ref!r}: no such file (for a cover id, pass --server URL)")
    from clients.http import CoverClient, CoverServiceError

    client = CoverClient(base, token)
    try:
        m = client.manifest(cover_id)
        arrays = m.arrays() if m.centres is not None else client.arrays(cover_id, m)
    except CoverServiceError as exc:
        raise ValueError(f"cover {cover_id} at {base}: {one_line(exc)}") from None
    except OSError as exc:
        raise ValueError(f"cover {cover_id} at {base}: {exc}") from None
    finally:
        client.close()
    return m, arrays


def check_fingerprint(manifest: Manifest, X: np.ndarray) -> None:
    """Raise ValueError unless ``manifest`` was computed on exactly ``X``."""
    fp = fingerprint(X)
    if fp != manifest.dataset.fingerprint:
        raise ValueError(
            f"the manifest is for another dataset: manifest fingerprint "
            f"{manifest.dataset.fingerprint} (n={manifest.dataset.n}, dim={manifest.dataset.dim})"
            f" != local data {fp} (n={X.shape[0]}, dim={X.shape[1]})"
        )


def selection_from_manifest(
    manifest: Manifest,
    arrays: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    labels_fingerprint: str | None = None,
) -> Selection:
    """The weighted training set of a cover: centre rows of ``X``, their labels and weights.

    ``X`` (n, d) must be the data the cover was computed on (checked by fingerprint), and the
    cover must be labelled with ``y``: its labels fingerprint must be ``labels_fingerprint``
    (that of the labels as loaded, e.g. ``Dataset.labels_fingerprint``) or that of ``y``.
    """
    check_fingerprint(manifest, X)
    lfp = manifest.dataset.labels_fingerprint
    if lfp is None:
        raise ValueError(
            "the cover is unlabelled: training needs a label-respecting cover "
            "(covering cover X.npy --labels y.npy ...)"
        )
    if lfp not in (labels_fingerprint, fingerprint(np.asarray(y))):
        raise ValueError("the manifest was computed with other labels (labels fingerprint differs)")
    idx = np.asarray(arrays["indices"], dtype=np.int64)
    w = np.asarray(arrays["weights"], dtype=np.float64)
    eta = manifest.params.eta if manifest.params.eta is not None else manifest.stats.radius
    try:  # exactly, as covering verify does: the bound holds only for a valid cover
        if "assignment" in arrays:  # a payload: weights, labels and every row's distance
            verify(X, manifest.to_cover(arrays), labels=np.asarray(y))
        else:  # inline centres: every row within eta of a same-label centre
            verify_centres(X, idx, eta, manifest.params.metric, np.asarray(y), arrays.get("labels"))
    except ValueError as exc:
        raise ValueError(f"the cover does not verify on this data: {exc}") from None
    if idx.ndim != 1 or idx.shape != w.shape or idx.size == 0:
        raise ValueError("manifest arrays: indices and weights must be equal-length 1-D arrays")
    if idx.min() < 0 or idx.max() >= X.shape[0]:
        raise ValueError("manifest indices fall outside the dataset")
    labels = y[idx]
    if "labels" in arrays and not np.array_equal(np.asarray(arrays["labels"]), labels):
        raise ValueError("the manifest's centre labels differ from the local labels")
    return Selection(X[idx], labels, w, idx, float(eta), manifest.params.metric)
