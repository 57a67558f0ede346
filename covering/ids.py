"""The identifier formats shared by the manifest, the service and its clients (one place).

- a dataset is named by the sha256 (hex) of its ``.npy`` bytes; a cover's arrays carry the
  same kind of checksum;
- a job, a cover or a curve is named by a uuid4 hex (32 hex digits);
- a fingerprint (:func:`covering.fingerprint`) is ``"sha256:"`` and 64 hex digits.
"""

from __future__ import annotations

import re
import uuid

__all__ = ["FINGERPRINT_PATTERN", "ID_PATTERN", "ID_RE", "SHA_PATTERN", "SHA_RE", "new_id"]

SHA_PATTERN = r"^[0-9a-f]{64}$"
ID_PATTERN = r"^[0-9a-f]{32}$"
FINGERPRINT_PATTERN = r"^sha256:[0-9a-f]{64}$"

SHA_RE = re.compile(SHA_PATTERN)
ID_RE = re.compile(ID_PATTERN)


def new_id() -> str:
    """A fresh job/cover/curve id (uuid4 hex, matches :data:`ID_PATTERN`)."""
    return uuid.uuid4().hex
