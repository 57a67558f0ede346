"""covering: minimal finite coverings (MFC) of datasets, computed with FAISS and verified exactly.

Public API::

    cover(X, labels=None, *, eta=None, k=None, metric="l2", method="auto", ...) -> Cover
    verify(X, cover, labels=None)            # raises CoverError unless valid
    CoverBuilder(dim, eta, metric="l2")      # incremental covers
    Manifest.from_cover(cover)               # the JSON contract
    fingerprint(array) -> "sha256:..."
"""

from __future__ import annotations

__version__ = "0.1.0"

from covering.api import cover
from covering.builder import CoverBuilder
from covering.fingerprint import fingerprint
from covering.manifest import Manifest
from covering.result import Cover, CoverError
from covering.verify import verify, verify_centres

__all__ = [
    "Cover",
    "CoverBuilder",
    "CoverError",
    "Manifest",
    "__version__",
    "cover",
    "fingerprint",
    "verify",
    "verify_centres",
]
