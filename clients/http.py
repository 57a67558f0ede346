"""``CoverClient``: the HTTP client of the covering service (httpx, synchronous).

Example
-------
>>> with CoverClient("http://127.0.0.1:8000", token="...") as client:   # doctest: +SKIP
...     manifest = client.cover(X, labels=y, eta=4.0)
...     arrays = client.arrays(manifest.cover_id)
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, overload

import httpx
import numpy as np

from covering.ids import SHA_RE
from covering.manifest import Manifest

__all__ = [
    "FINAL_STATES",
    "JOB_STATES",
    "AuthError",
    "CoverClient",
    "CoverServiceError",
    "InvalidInput",
    "JobFailed",
    "NotFound",
    "PayloadTooLarge",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_NPY_TYPE = "application/x-npy"

#: job states: ``queued``, ``running`` and ``cancelling`` (running, a cancel was asked) are
#: not final; ``succeeded``, ``failed`` and ``cancelled`` are
JOB_STATES = ("queued", "running", "cancelling", "succeeded", "failed", "cancelled")
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})

ArrayLike = np.ndarray | str | os.PathLike[str]


class CoverServiceError(Exception):
    """An error answer of the service (or no answer: ``status == 0``).

    Attributes
    ----------
    status : int
        HTTP status code (0 when the server could not be reached).
    detail : Any
        The server's ``detail`` (usually a message).
    """

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"[{status}] {detail}" if status else str(detail))
        self.status = status
        self.detail = detail


class AuthError(CoverServiceError):
    """401/403: missing or wrong token."""


class NotFound(CoverServiceError):
    """404: unknown dataset, job or cover."""


class PayloadTooLarge(CoverServiceError):
    """413: the upload exceeds the server's limit."""


class InvalidInput(CoverServiceError):
    """400/415/422: the request or its content was refused."""


class JobFailed(CoverServiceError):
    """The job ended ``failed`` or ``cancelled``; ``job`` is its last state."""

    def __init__(self, status: int, detail: Any, job: dict[str, Any]) -> None:
        super().__init__(status, detail)
        self.job = job


def _error_for(r: httpx.Response) -> CoverServiceError:
    try:
        body = r.json()
    except ValueError:
        body = None
    detail: Any = (
        body.get("detail", body) if isinstance(body, dict) else (r.text or r.reason_phrase)
    )
    if isinstance(body, dict) and isinstance(body.get("job"), dict):
        return JobFailed(r.status_code, detail, body["job"])
    cls: type[CoverServiceError] = {
        401: AuthError,
        403: AuthError,
        404: NotFound,
        413: PayloadTooLarge,
        400: InvalidInput,
        415: InvalidInput,
        422: InvalidInput,
    }.get(r.status_code, CoverServiceError)
    return cls(r.status_code, detail)


def _npy_parts(arr: np.ndarray) -> tuple[bytes, memoryview]:
    """The ``.npy`` header (exactly as ``np.save`` writes it) and the raw data bytes."""
    if arr.dtype.hasobject:
        raise ValueError("object arrays cannot be uploaded")
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
    data = arr.data.cast("B") if arr.size else memoryview(b"")
    return buf.getvalue(), data


class CoverClient:
    """Client of one covering service.

    Parameters
    ----------
    base_url : str
        E.g. ``"http://127.0.0.1:8000"``.
    token : str, optional
        Bearer token (one of the server's ``COVERING_API_TOKENS``).
    timeout : float
        Seconds per HTTP request (connect, read, write).
    retries : int
        Retries of idempotent calls (GET, PUT) after connection errors and 5xx answers, with
        exponential backoff starting at ``backoff`` seconds. Non-idempotent calls are retried
        only when the connection could not be opened.
    backoff : float
    transport : httpx.BaseTransport, optional
        For tests (e.g. ``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ValueError(f"invalid service URL {base_url!r}: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"invalid service URL {base_url!r}: expected http(s)://host[:port]")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.timeout = float(timeout)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    def __enter__(self) -> CoverClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ plumbing
    def _request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        content: Callable[[], Iterator[bytes]] | None = None,
        read_timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        attempts = self.retries + 1
        if read_timeout is not None:
            kwargs["timeout"] = httpx.Timeout(self.timeout, read=read_timeout)
        for attempt in range(attempts):
            last = attempt + 1 >= attempts
            try:
                r = self._http.request(
                    method, url, content=content() if content is not None else None, **kwargs
                )
            except httpx.TransportError as exc:
                retry_ok = idempotent or isinstance(exc, httpx.ConnectError)
                if last or not retry_ok:
                    raise CoverServiceError(
                        0, f"{method} {url}: {type(exc).__name__}: {exc}"
                    ) from exc
                log.debug("%s %s: %s, retrying", method, url, exc)
            else:
                if r.status_code < 500 or not idempotent or last:
                    if r.status_code >= 400:
                        raise _error_for(r)
                    return r
                log.debug("%s %s: %d, retrying", method, url, r.status_code)
            time.sleep(self.backoff * (2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ datasets
    def healthz(self) -> dict[str, Any]:
        """The server's liveness answer."""
        r: dict[str, Any] = self._request("GET", "/healthz", idempotent=True).json()
        return r

    def dataset(self, sha: str) -> dict[str, Any]:
        """Describe an uploaded dataset (``NotFound`` if the server has none)."""
        r: dict[str, Any] = self._request("GET", f"/datasets/{sha}", idempotent=True).json()
        return r

    def upload(self, array_or_path: ArrayLike) -> str:
        """Upload an array (or a ``.npy`` file) unless the server has it; return its sha256.

        The body is streamed in 1 MiB chunks (from the array's own buffer, or from the file):
        no second full copy is made. A C-contiguous array is sent exactly as ``np.save``
        writes it; other arrays are made contiguous first.

        Parameters
        ----------
        array_or_path : ndarray or path-like
            A 2-D float16/32/64 embedding ``(n, d)`` or 1-D integer labels ``(n,)``.

        Returns
        -------
        str
            sha256 hex of the ``.npy`` bytes: the dataset's id on the server.
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
        sha = h.hexdigest()
        try:
            self.dataset(sha)
            return sha
        except NotFound:
            pass
        self._request(
            "PUT",
            f"/datasets/{sha}",
            idempotent=True,
            content=chunks,
            headers={"Content-Type": _NPY_TYPE, "Content-Length": str(size)},
        )
        return sha

    def _ref(self, x: ArrayLike | None) -> str | None:
        if x is None:
            return None
        if isinstance(x, str) and SHA_RE.fullmatch(x):
            return x
        return self.upload(x)

    # ------------------------------------------------------------------ jobs
    def job(self, job_id: str) -> dict[str, Any]:
        """State of a job: ``{id, status, progress: {stage, done, total}, error, cover, ...}``
        (``status`` one of :data:`JOB_STATES`)."""
        r: dict[str, Any] = self._request("GET", f"/jobs/{job_id}", idempotent=True).json()
        return r

    def cancel(self, job_id: str, *, wait: float = 0.0) -> dict[str, Any]:
        """Cancel a job; return its state.

        A queued job is ``cancelled`` at once; a running one answers ``cancelling`` and
        becomes ``cancelled`` at its next progress report (a job that ended first keeps its
        final state). With ``wait`` > 0, wait up to that many seconds for a final state.

        Parameters
        ----------
        job_id : str
        wait : float
            Seconds to wait for ``cancelling`` to become final (0: answer at once).

        Returns
        -------
        dict
            The job: ``status`` is ``cancelled``, ``cancelling`` (still stopping) or the final
            state it reached before the cancel.
        """
        job: dict[str, Any] = self._request("DELETE", f"/jobs/{job_id}", idempotent=True).json()
        deadline = time.monotonic() + wait
        while job["status"] not in FINAL_STATES and (left := deadline - time.monotonic()) > 0:
            job = self._request(
                "GET",
                f"/jobs/{job_id}",
                idempotent=True,
                params={"wait": f"{left:.3f}"},
                read_timeout=left + self.timeout,
            ).json()
        return job

    def wait(self, job_id: str, *, timeout: float | None = None, poll: float = 20.0) -> Manifest:
        """Wait for a job (long-polling ``poll`` seconds per request); return its manifest.

        Raises
        ------
        JobFailed
            The job failed or was cancelled.
        TimeoutError
            Still not done after ``timeout`` seconds.
        """
        job = self._succeeded(job_id, timeout, poll)
        if job.get("cover") is None:
            raise ValueError(f"job {job_id} is a {job.get('kind')} job, not a cover job")
        return self.manifest(job["cover"])

    def _succeeded(self, job_id: str, timeout: float | None, poll: float) -> dict[str, Any]:
        """The job once it succeeded (``JobFailed``, ``TimeoutError`` as in :meth:`wait`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = poll if deadline is None else min(poll, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError(f"job {job_id} not finished after {timeout} s")
            r = self._request(
                "GET",
                f"/jobs/{job_id}",
                idempotent=True,
                params={"wait": f"{left:.3f}"},
                read_timeout=left + self.timeout,
            )
            job: dict[str, Any] = r.json()
            if job["status"] == "succeeded":
                return job
            if job["status"] in ("failed", "cancelled"):
                raise JobFailed(
                    422 if job["status"] == "failed" else 409,
                    f"job {job_id} {job['status']}: {job.get('error')}",
                    job,
                )

    def _submit(
        self, url: str, body: dict[str, Any], wait: bool | float, poll: float
    ) -> Manifest | str:
        first = 0.0 if wait is False else min(poll, float("inf") if wait is True else wait)
        r = self._request(
            "POST",
            url,
            idempotent=False,
            json=body,
            params={"wait": f"{first:.3f}"} if first > 0 else None,
            read_timeout=first + self.timeout,
        )
        if r.status_code == 200:
            return Manifest.model_validate_json(r.content)
        job_id = str(r.json()["id"])
        if wait is False:
            return job_id
        timeout = None if wait is True else max(0.0, float(wait) - first)
        return self.wait(job_id, timeout=timeout, poll=poll)

    @overload
    def cover(
        self,
        X: ArrayLike,
        labels: ArrayLike | None = ...,
        *,
        eta: float | None = ...,
        k: int | None = ...,
        metric: str = ...,
        method: str = ...,
        seed: int = ...,
        time_limit: float | None = ...,
        wait: Literal[False],
        poll: float = ...,
    ) -> str: ...

    @overload
    def cover(
        self,
        X: ArrayLike,
        labels: ArrayLike | None = ...,
        *,
        eta: float | None = ...,
        k: int | None = ...,
        metric: str = ...,
        method: str = ...,
        seed: int = ...,
        time_limit: float | None = ...,
        wait: Literal[True] | float = ...,
        poll: float = ...,
    ) -> Manifest: ...

    def cover(
        self,
        X: ArrayLike,
        labels: ArrayLike | None = None,
        *,
        eta: float | None = None,
        k: int | None = None,
        metric: str = "l2",
        method: str = "auto",
        seed: int = 0,
        time_limit: float | None = None,
        wait: bool | float = True,
        poll: float = 20.0,
    ) -> Manifest | str:
        """Compute a cover on the server.

        Parameters
        ----------
        X : ndarray (n, d) float, path of a ``.npy``, or the sha256 of an uploaded dataset
        labels : ndarray (n,) int, path, or sha256, optional
        eta, k : exactly one of them (radius or budget mode)
        metric, method, seed, time_limit : as in ``covering.cover``
        wait : bool or float
            True: wait until the job ends; a number: at most that many seconds (then
            ``TimeoutError``); False: return the job id at once.
        poll : float
            Seconds the server may hold each long-polling request.

        Returns
        -------
        Manifest or str
            The manifest, or the job id when ``wait=False``.
        """
        if (eta is None) == (k is None):
            raise ValueError("give exactly one of eta and k")
        body: dict[str, Any] = {
            "dataset": self._ref(X),
            "metric": metric,
            "method": method,
            "seed": seed,
        }
        for key, val in (
            ("labels", self._ref(labels)),
            ("eta", eta),
            ("k", k),
            ("time_limit", time_limit),
        ):
            if val is not None:
                body[key] = val
        return self._submit("/cover", body, wait, poll)

    # ------------------------------------------------------------------ covers
    def manifest(self, cover_id: str) -> Manifest:
        """The manifest of a cover."""
        r = self._request("GET", f"/covers/{cover_id}", idempotent=True)
        return Manifest.model_validate_json(r.content)

    def arrays(self, cover_id: str, manifest: Manifest | None = None) -> dict[str, np.ndarray]:
        """The cover's arrays: ``indices``, ``weights``, ``assignment``, ``labels`` (int64).

        The download's sha256 is checked against the manifest's payload (fetched when not
        given); ``CoverServiceError`` on a mismatch.
        """
        m = manifest if manifest is not None else self.manifest(cover_id)
        r = self._request("GET", f"/covers/{cover_id}/arrays", idempotent=True)
        data = r.content
        if m.payload is not None:
            got = hashlib.sha256(data).hexdigest()
            if got != m.payload.sha256:
                raise CoverServiceError(
                    r.status_code,
                    f"cover {cover_id}: arrays sha256 {got} "
                    f"differs from the manifest's {m.payload.sha256}",
                )
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {key: np.asarray(z[key]) for key in z.files}

    @overload
    def add_points(
        self,
        cover_id: str,
        X: ArrayLike,
        labels: ArrayLike | None = ...,
        *,
        wait: Literal[False],
        poll: float = ...,
    ) -> str: ...

    @overload
    def add_points(
        self,
        cover_id: str,
        X: ArrayLike,
        labels: ArrayLike | None = ...,
        *,
        wait: Literal[True] | float = ...,
        poll: float = ...,
    ) -> Manifest: ...

    def add_points(
        self,
        cover_id: str,
        X: ArrayLike,
        labels: ArrayLike | None = None,
        *,
        wait: bool | float = True,
        poll: float = 20.0,
    ) -> Manifest | str:
        """Add rows to a cover; the result is a new cover whose ``parent`` is ``cover_id``
        and whose dataset is the parent's rows followed by ``X``."""
        body: dict[str, Any] = {"dataset": self._ref(X)}
        lab = self._ref(labels)
        if lab is not None:
            body["labels"] = lab
        return self._submit(f"/covers/{cover_id}/points", body, wait, poll)

    # ------------------------------------------------------------------ curves
    @overload
    def curve(
        self,
        X: ArrayLike,
        labels: ArrayLike | None = ...,
        *,
        etas: list[float] | None = ...,
        eta_min: float | None = ...,
        eta_max: float | None = ...,
        num: int | None = ...,
        metric: str = ...,
        seed: int = ...,
        wait: Literal[False],
        poll: float = ...,
    ) -> str: ...

    @overload
    def curve(
        self,
        X: ArrayLike,
        labels: ArrayLike | None = ...,
        *,
        etas: list[float] | None = ...,
        eta_min: float | None = ...,
        eta_max: float | None = ...,
        num: int | None = ...,
        metric: str = ...,
        seed: int = ...,
        wait: Literal[True] | float = ...,
        poll: float = ...,
    ) -> dict[str, Any]: ...

    def curve(
        self,
        X: ArrayLike,
        labels: ArrayLike | None = None,
        *,
        etas: list[float] | None = None,
        eta_min: float | None = None,
        eta_max: float | None = None,
        num: int | None = None,
        metric: str = "l2",
        seed: int = 0,
        wait: bool | float = True,
        poll: float = 20.0,
    ) -> dict[str, Any] | str:
        """Greedy cover size against eta on the server (``POST /curve``), to pick eta.

        Parameters
        ----------
        X : ndarray (n, d) float, path of a ``.npy``, or the sha256 of an uploaded dataset
        labels : ndarray (n,) int, path, or sha256, optional
        etas : list of float, optional
            Radii (> 0). Or ``eta_min`` and ``eta_max`` (``num`` radii spaced geometrically,
            default 16), or none of them (``covering.size_curve``'s default range).
        metric, seed : as in ``covering.size_curve``
        wait, poll : as in :meth:`cover`

        Returns
        -------
        dict or str
            The curve (``curve_id``, ``etas``, ``sizes``, ``fractions``, ``classes``,
            ``class_sizes``, ... as ``covering.SizeCurve.to_dict()``), or the job id when
            ``wait=False`` (then :meth:`wait_curve`).
        """
        body: dict[str, Any] = {"dataset": self._ref(X), "metric": metric, "seed": seed}
        for key, val in (
            ("labels", self._ref(labels)),
            ("etas", None if etas is None else [float(e) for e in etas]),
            ("eta_min", eta_min),
            ("eta_max", eta_max),
            ("num", num),
        ):
            if val is not None:
                body[key] = val
        first = 0.0 if wait is False else min(poll, float("inf") if wait is True else wait)
        r = self._request(
            "POST",
            "/curve",
            idempotent=False,
            json=body,
            params={"wait": f"{first:.3f}"} if first > 0 else None,
            read_timeout=first + self.timeout,
        )
        if r.status_code == 200:
            out: dict[str, Any] = r.json()
            return out
        job_id = str(r.json()["id"])
        if wait is False:
            return job_id
        timeout = None if wait is True else max(0.0, float(wait) - first)
        return self.wait_curve(job_id, timeout=timeout, poll=poll)

    def wait_curve(
        self, job_id: str, *, timeout: float | None = None, poll: float = 20.0
    ) -> dict[str, Any]:
        """Wait for a curve job; return its curve (``JobFailed``, ``TimeoutError`` as in
        :meth:`wait`)."""
        job = self._succeeded(job_id, timeout, poll)
        if job.get("curve") is None:
            raise ValueError(f"job {job_id} is a {job.get('kind')} job, not a curve job")
        return self.curve_result(job["curve"])

    def curve_result(self, curve_id: str) -> dict[str, Any]:
        """A finished curve (``GET /curves/{id}``)."""
        r: dict[str, Any] = self._request("GET", f"/curves/{curve_id}", idempotent=True).json()
        return r

    def metrics(self) -> str:
        """The Prometheus metrics text."""
        return self._request("GET", "/metrics", idempotent=True).text
