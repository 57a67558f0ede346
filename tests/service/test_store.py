"""The job store: state transitions under concurrency (a final state stays final)."""

from __future__ import annotations

import threading
from pathlib import Path

from service.store import Store


def test_cancel_and_claim_never_both_win(tmp_path: Path) -> None:
    store = Store(tmp_path)
    jobs = [store.create_job(kind="cover", params={"eta": 1.0}, dataset="0" * 64)
            for _ in range(200)]
    claimed: set[str] = set()
    answered: dict[str, str] = {}

    def claim() -> None:
        while (job := store.claim_next()) is not None:
            claimed.add(job.id)

    def cancel() -> None:
        for job in jobs:
            answered[job.id] = store.request_cancel(job.id).status

    threads = [threading.Thread(target=claim), threading.Thread(target=cancel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    said_cancelled = {j for j, status in answered.items() if status == "cancelled"}
    assert said_cancelled and claimed  # both sides won some: the race was exercised
    assert not said_cancelled & claimed
    for job in jobs:
        final = store.get_job(job.id)
        assert (final.status == "cancelled") == (job.id in said_cancelled)
        store.finish_job(job.id, "failed", "late")  # a final state stays final
        assert store.get_job(job.id).status == ("cancelled" if job.id in said_cancelled
                                                else "failed")
    store.close()
