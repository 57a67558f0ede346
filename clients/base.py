"""What every call of :class:`~clients.CoverClient` shares: the connection, uploads (datasets
are content-addressed: an array is sent only when the server lacks it) and jobs (state,
cancel, long-polling)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from clients.errors import JobFailed, NotFound
from clients.transport import ArrayLike, Body, npy_body, open_http, send
from covering.ids import SHA_RE

__all__ = ["FINAL_STATES", "JOB_STATES", "BaseClient"]

_NPY_TYPE = "application/x-npy"

#: job states: ``queued``, ``running`` and ``cancelling`` (running, a cancel was asked) are
#: not final; ``succeeded``, ``failed`` and ``cancelled`` are
JOB_STATES = ("queued", "running", "cancelling", "succeeded", "failed", "cancelled")
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})

T = TypeVar("T")


class BaseClient:
    """The connection, datasets and jobs of one covering service (see
    :class:`~clients.CoverClient` for the parameters)."""

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
        self._http = open_http(base_url, token, timeout=timeout, transport=transport)
        self.base_url = base_url.rstrip("/")
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.timeout = float(timeout)

    def close(self) -> None:
        self._http.close()

    def _request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        content: Body | None = None,
        read_timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        if read_timeout is not None:
            kwargs["timeout"] = httpx.Timeout(self.timeout, read=read_timeout)
        kwargs.update(retries=self.retries, backoff=self.backoff, content=content)
        return send(self._http, method, url, idempotent=idempotent, **kwargs)

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
        sha, size, chunks = npy_body(array_or_path)
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
            job = self._poll(job_id, left)
        return job

    def _poll(self, job_id: str, wait: float) -> dict[str, Any]:
        """The job's state, once it changed or after ``wait`` seconds (long-polling)."""
        r: dict[str, Any] = self._request(
            "GET",
            f"/jobs/{job_id}",
            idempotent=True,
            params={"wait": f"{wait:.3f}"},
            read_timeout=wait + self.timeout,
        ).json()
        return r

    def _succeeded(self, job_id: str, timeout: float | None, poll: float) -> dict[str, Any]:
        """The job once it succeeded; ``JobFailed`` when it failed or was cancelled,
        ``TimeoutError`` after ``timeout`` seconds (long-polling ``poll`` seconds a request)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = poll if deadline is None else min(poll, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError(f"job {job_id} not finished after {timeout} s")
            job = self._poll(job_id, left)
            if job["status"] == "succeeded":
                return job
            if job["status"] in ("failed", "cancelled"):
                raise JobFailed(
                    422 if job["status"] == "failed" else 409,
                    f"job {job_id} {job['status']}: {job.get('error')}",
                    job,
                )

    def _submit(
        self,
        url: str,
        body: dict[str, Any],
        wait: bool | float,
        poll: float,
        done: Callable[[httpx.Response], T],
        then: Callable[..., T],
    ) -> T | str:
        """POST a job; its result (``done`` of a 200 answer within ``wait``), its id
        (``wait=False``), or ``then(job_id, timeout=..., poll=...)``: wait for it."""
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
            return done(r)
        job_id = str(r.json()["id"])
        if wait is False:
            return job_id
        timeout = None if wait is True else max(0.0, float(wait) - first)
        return then(job_id, timeout=timeout, poll=poll)
