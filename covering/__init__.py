"""covering: minimal finite coverings (MFC) of datasets, computed with FAISS and verified exactly.

Public API::

    cover(X, labels=None, *, eta=None, k=None, metric="l2", method="auto", ...) -> Cover
    verify(X, cover, labels=None)            # raises CoverError unless valid
    CoverBuilder(dim, eta, metric="l2")      # incremental covers
    Manifest.from_cover(cover)               # the JSON contract
    eta_for_size(X, labels, size) -> Cover   # a radius-mode cover with exactly `size` centres
    size_curve(X, labels, etas) -> SizeCurve # greedy cover size against eta
    fingerprint(array) -> "sha256:..."
"""

from __future__ import annotations

from covering.api import cover
from covering.builder import CoverBuilder
from covering.fingerprint import fingerprint
from covering.manifest import Manifest
from covering.result import Cover, CoverError
from covering.sizing import SizeCurve, eta_for_size, size_curve
from covering.verify import verify, verify_centres
from covering.version import __version__

__all__ = [
    "Cover",
    "CoverBuilder",
    "CoverError",
    "Manifest",
    "SizeCurve",
    "__version__",
    "cover",
    "eta_for_size",
    "fingerprint",
    "size_curve",
    "verify",
    "verify_centres",
]
