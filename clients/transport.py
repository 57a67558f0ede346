"""The client's HTTP plumbing: the connection (httpx), retries with exponential backoff, and
``.npy`` request bodies streamed from an array's own buffer or from a file."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from clients.errors import CoverServiceError, error_for

__all__ = ["ArrayLike", "Body", "npy_body", "open_http", "send"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20

ArrayLike = np.ndarray | str | os.PathLike[str]
#: a request body that can be sent again (a retry): called for each attempt
Body = Callable[[], Iterator[bytes]]


def open_http(
    base_url: str, token: str | None, *, timeout: float, transport: httpx.BaseTransport | None
) -> httpx.Client:
    """The connection pool to ``base_url`` (``http(s)://host[:port]``, else ``ValueError``),
    sending ``token`` as a bearer token."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"invalid service URL {base_url!r}: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"invalid service URL {base_url!r}: expected http(s)://host[:port]")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers=headers,
        timeout=httpx.Timeout(timeout),
        transport=transport,
    )


def send(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    idempotent: bool,
    retries: int,
    backoff: float,
    content: Body | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One call, retried ``retries`` times with backoff ``backoff * 2**attempt`` seconds.

    Idempotent calls are retried after connection errors and 5xx answers, the others only
    when the connection could not be opened. An answer >= 400 raises its
    :class:`~clients.CoverServiceError`; no answer at all one with ``status == 0``.
    """
    attempts = retries + 1
    for attempt in range(attempts):
        last = attempt + 1 >= attempts
        try:
            r = http.request(
                method, url, content=content() if content is not None else None, **kwargs
            )
        except httpx.TransportError as exc:
            retry_ok = idempotent or isinstance(exc, httpx.ConnectError)
            if last or not retry_ok:
                raise CoverServiceError(0, f"{method} {url}: {type(exc).__name__}: {exc}") from exc
            log.debug("%s %s: %s, retrying", method, url, exc)
        else:
            if r.status_code < 500 or not idempotent or last:
                if r.status_code >= 400:
                    raise error_for(r)
                return r
            log.debug("%s %s: %d, retrying", method, url, r.status_code)
        time.sleep(backoff * (2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _npy_parts(arr: np.ndarray) -> tuple[bytes, memoryview]:
    """The ``.npy`` header (exactly as ``np.save`` writes it) and the raw data bytes."""
    if arr.dtype.hasobject:
        raise ValueError("object arrays cannot be uploaded")
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
    data = arr.data.cast("B") if arr.size else memoryview(b"")
    return buf.getvalue(), data


def npy_body(array_or_path: ArrayLike) -> tuple[str, int, Body]:
    """The ``.npy`` bytes of an array (or a ``.npy`` file): sha256 hex, size and chunks.

    The chunks (1 MiB) come from the array's own buffer, or from the file, each time the body
    is called: no second full copy is made. A C-contiguous array is sent exactly as
    ``np.save`` writes it; other arrays are made contiguous first.
    """
    if isinstance(array_or_path, np.ndarray):
        arr = np.ascontiguousarray(array_or_path)
        header, data = _npy_parts(arr)
        size = len(header) + data.nbytes

        def chunks() -> Iterator[bytes]:
            yield header
            for s in range(0, data.nbytes, _CHUNK):
                yield bytes(data[s : s + _CHUNK])
    else:
        path = Path(array_or_path)
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        size = path.stat().st_size

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as fh:
                yield from iter(lambda: fh.read(_CHUNK), b"")

    h = hashlib.sha256()
    for c in chunks():
        h.update(c)
    return h.hexdigest(), size, chunks
