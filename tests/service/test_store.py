"""The job store: state transitions under concurrency (a final state stays final)."""

from __future__ import annotations

import threading
from pathlib import Path

from service.store import Store


def _race(store: Store, n: int) -> tuple[list[str], set[str], set[str]]:
    """Queue ``n`` jobs; one thread claims them oldest first while another cancels them newest
    first, both released together. Returns (job ids, claimed, answered "cancelled")."""
    ids = [
        store.create_job(kind="cover", params={"eta": 1.0}, dataset="0" * 64).id for _ in range(n)
    ]
    claimed: set[str] = set()
    answered: dict[str, str] = {}
    start = threading.Barrier(2)

    def claim() -> None:
        start.wait()
        while (job := store.claim_next()) is not None:
            claimed.add(job.id)

    def cancel() -> None:
        start.wait()
        for job_id in reversed(ids):  # from the other end: the two meet somewhere in the middle
            answered[job_id] = store.request_cancel(job_id).status

    threads = [threading.Thread(target=claim), threading.Thread(target=cancel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids, claimed, {j for j, status in answered.items() if status == "cancelled"}


def test_cancel_and_claim_never_both_win(tmp_path: Path) -> None:
    store = Store(tmp_path)
    exercised = False
    for _ in range(10):  # a scheduler may run one thread to the end first: then race again
        ids, claimed, said_cancelled = _race(store, 100)
        assert not said_cancelled & claimed
        assert said_cancelled | claimed == set(ids)
        for job_id in ids:
            final = store.get_job(job_id)
            assert (final.status == "cancelled") == (job_id in said_cancelled)
            store.finish_job(job_id, "failed", "late")  # a final state stays final
            assert store.get_job(job_id).status == (
                "cancelled" if job_id in said_cancelled else "failed"
            )
        if said_cancelled and claimed:
            exercised = True
            break
    assert exercised, "in 10 rounds one side never won a job: the race was not exercised"
    store.close()
