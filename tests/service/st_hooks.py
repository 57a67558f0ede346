"""Schemathesis hooks for the covering service: the part of a valid request no schema can say.

The schema can only call a ``.npy`` body "binary", and the sha256 in ``PUT /datasets/{sha256}``
must be the body's: random bytes would be refused, rightly (422 not a .npy, 400 hash mismatch),
and counted as valid data rejected. These hooks make every binary body a small, valid float
embedding ``.npy`` and point ``PUT /datasets/{sha256}`` at its own body's hash (a path that
does not match the sha256 pattern, i.e. negative data, is left alone). Everything else is as
schemathesis generates it.

Used by ``tests/service/test_schemathesis.py`` (imported), and by the schemathesis command
line against a live server::

    SCHEMATHESIS_HOOKS=tests.service.st_hooks st run http://127.0.0.1:8000/openapi.json \\
        -H "Authorization: Bearer $TOKEN" --checks all --exclude-checks use_after_free

(``use_after_free``, a check of the stateful phase, reads ``DELETE /jobs/{id}`` as a deletion;
it is a cancel, and the job stays readable so that its ``cancelled`` state can be seen.)
"""

from __future__ import annotations

import hashlib
import io
import re

import numpy as np
import schemathesis
from hypothesis import strategies as st

NPY_TYPES = ("application/x-npy", "application/octet-stream")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _is_npy(body: object) -> bool:
    if not isinstance(body, bytes):
        return False
    try:
        a = np.load(io.BytesIO(body), allow_pickle=False)
    except Exception:
        return False
    return isinstance(a, np.ndarray) and a.ndim == 2 and a.dtype.kind == "f" and a.size > 0


@st.composite
def embeddings(draw: st.DrawFn) -> bytes:
    """A small float32 embedding (1..8 rows, 1..4 columns) with no zero row (so that every
    metric, cosine included, takes it)."""
    n = draw(st.integers(1, 8))
    d = draw(st.integers(1, 4))
    mags = draw(st.lists(st.floats(0.25, 8.0), min_size=n * d, max_size=n * d))
    signs = draw(st.lists(st.sampled_from((-1.0, 1.0)), min_size=n * d, max_size=n * d))
    X = (np.asarray(mags) * np.asarray(signs)).reshape(n, d).astype(np.float32)
    return npy_bytes(X)


_FALLBACK = npy_bytes(np.array([[1.0, 2.0], [2.0, 1.0], [4.0, 4.0]], dtype=np.float32))

schemathesis.openapi.media_type(NPY_TYPES[0], embeddings(), aliases=NPY_TYPES[1:])


@schemathesis.hook
def map_case(_ctx: object, case: schemathesis.Case) -> schemathesis.Case:
    if case.media_type in NPY_TYPES and not _is_npy(case.body):
        case.body = _FALLBACK  # e.g. the coverage phase's generic binary example
    if case.operation.method.upper() == "PUT" and case.operation.path == "/datasets/{sha256}":
        given = (case.path_parameters or {}).get("sha256")
        if isinstance(given, str) and _SHA.fullmatch(given) and isinstance(case.body, bytes):
            case.path_parameters = {**case.path_parameters, "sha256": _sha(case.body)}
    return case


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
