"""``CoverClient``: the HTTP client of the covering service (httpx, synchronous).

Its parts: :mod:`clients.errors` (one error class per kind of answer),
:mod:`clients.transport` (the connection, retries, ``.npy`` bodies) and
:mod:`clients.base` (uploads and jobs); this module adds covers and curves.

Example
-------
>>> with CoverClient("http://127.0.0.1:8000", token="...") as client:   # doctest: +SKIP
...     manifest = client.cover(X, labels=y, eta=4.0)
...     arrays = client.arrays(manifest.cover_id)
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, Literal, overload

import httpx
import numpy as np

from clients.base import FINAL_STATES, JOB_STATES, BaseClient
from clients.errors import (
    AuthError,
    CoverServiceError,
    InvalidInput,
    JobFailed,
    NotFound,
    PayloadTooLarge,
)
from clients.transport import ArrayLike
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


class CoverClient(BaseClient):
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

    def __enter__(self) -> CoverClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ covers
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
        return self._submit("/cover", body, wait, poll, _manifest, self.wait)

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
        return self._submit(f"/covers/{cover_id}/points", body, wait, poll, _manifest, self.wait)

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
        return self._submit("/curve", body, wait, poll, _json, self.wait_curve)

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


def _manifest(r: httpx.Response) -> Manifest:
    return Manifest.model_validate_json(r.content)


def _json(r: httpx.Response) -> dict[str, Any]:
    out: dict[str, Any] = r.json()
    return out
