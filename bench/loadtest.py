"""A bounded loopback load test: concurrent clients posting small one-call cover requests
(``POST /cover/npy``).

Run against a live server::

    python -m bench.loadtest --url http://127.0.0.1:8000 --token "$TOKEN" \\
        --clients 20 --requests 25

Every answer is checked: HTTP 200, the manifest's dataset fingerprint is the request's, weights
sum to n and every row lies within ``eta`` of a same-manifest centre (``verify_centres``).
"""

from __future__ import annotations

import argparse
import io
import json
import threading
import time
from dataclasses import asdict, dataclass

import httpx
import numpy as np

import covering

__all__ = ["LoadResult", "run_load"]


@dataclass
class LoadResult:
    """Figures of one load test run (latencies in milliseconds)."""

    clients: int
    requests: int
    ok: int
    errors: list[str]
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def _one(http: httpx.Client, X: np.ndarray, eta: float) -> str | None:
    buf = io.BytesIO()
    np.save(buf, X, allow_pickle=False)
    r = http.post(
        "/cover/npy",
        params={"eta": eta, "wait": 120},
        content=buf.getvalue(),
        headers={"Content-Type": "application/x-npy"},
    )
    if r.status_code != 200:
        return f"HTTP {r.status_code}: {r.text[:200]}"
    m = covering.Manifest.model_validate_json(r.content)
    if m.dataset.fingerprint != covering.fingerprint(X):
        return "fingerprint mismatch"
    arr = m.arrays()
    if int(arr["weights"].sum()) != X.shape[0]:
        return "weights do not sum to n"
    try:
        covering.verify_centres(X, arr["indices"], eta, m.params.metric)
    except ValueError as exc:
        return f"invalid cover: {exc}"
    return None


def run_load(
    url: str,
    token: str | None,
    *,
    clients: int = 20,
    requests: int = 25,
    n: int = 64,
    dim: int = 8,
    eta: float = 0.6,
    seed: int = 0,
) -> LoadResult:
    """Run ``clients`` threads, each sending ``requests`` sequential cover requests.

    Parameters
    ----------
    url, token : str
        Server base URL and bearer token.
    clients, requests : int
        Concurrency and requests per client.
    n, dim : int
        Shape of each request's random float32 embedding (distinct data per request).
    eta : float
        Cover radius.

    Returns
    -------
    LoadResult
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(c: int) -> None:
        rng = np.random.default_rng([seed, c])
        with httpx.Client(base_url=url, headers=headers, timeout=180) as http:
            for _ in range(requests):
                X = rng.random((n, dim), dtype=np.float32)
                t0 = time.perf_counter()
                try:
                    err = _one(http, X, eta)
                except httpx.HTTPError as exc:
                    err = f"{type(exc).__name__}: {exc}"
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if err:
                        errors.append(err)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.perf_counter() - t0
    lat = np.asarray(latencies) * 1000.0
    return LoadResult(
        clients=clients,
        requests=len(latencies),
        ok=len(latencies) - len(errors),
        errors=errors[:10],
        seconds=total,
        requests_per_s=len(latencies) / total,
        p50_ms=float(np.percentile(lat, 50)),
        p99_ms=float(np.percentile(lat, 99)),
        max_ms=float(lat.max()),
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: print the figures as JSON; exit 1 unless every answer was correct."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--token", default=None)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=25)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--dim", type=int, default=8)
    p.add_argument("--eta", type=float, default=0.6)
    a = p.parse_args(argv)
    res = run_load(
        a.url, a.token, clients=a.clients, requests=a.requests, n=a.n, dim=a.dim, eta=a.eta
    )
    print(json.dumps(asdict(res), indent=1))
    return 0 if res.ok == res.requests else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
