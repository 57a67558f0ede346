"""The job repository (``service.jobs_repo``): every state transition of a job, alone, under
concurrency (a final state stays final) and across a restart of the store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from service.errors import Conflict, NotFound
from service.jobs_repo import JobRepo, open_database
from service.models import CoverRow, JobRow
from service.schemas import job_out
from service.store import Store

DATASET = "0" * 64


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


@pytest.fixture
def repo(tmp_path: Path) -> JobRepo:
    return JobRepo(open_database(tmp_path / "jobs.sqlite"))


def _queue(repo: JobRepo, kind: str = "cover", parent: str | None = None) -> JobRow:
    return repo.create_job(kind=kind, params={"eta": 1.0}, dataset=DATASET, parent=parent)


def _cover_row(job: JobRow, n: int = 10) -> CoverRow:
    return CoverRow(
        id=job.cover_id,
        job_id=job.id,
        dataset=DATASET,
        size=3,
        n=n,
        payload_sha256="1" * 64,
        created_at=time.time(),
    )


def test_queue(repo: JobRepo) -> None:
    job = _queue(repo)
    got = repo.get_job(job.id)
    assert got.status == "queued" and got.attempts == 0 and got.started_at is None
    assert got.params == '{"eta": 1.0}' and got.cover_id != got.id
    assert repo.count_jobs("queued") == 1 and repo.count_jobs("running") == 0
    with pytest.raises(NotFound):
        repo.get_job("f" * 32)
    with pytest.raises(NotFound):
        repo.get_job("../etc/passwd")


def test_claim_takes_the_oldest_and_marks_it_running(repo: JobRepo) -> None:
    first, second = _queue(repo), _queue(repo)
    job = repo.claim_next()
    assert job is not None and job.id == first.id
    assert job.status == "running" and job.attempts == 1 and job.started_at is not None
    assert (job.stage, job.done, job.total) == ("starting", 0, 0)
    assert repo.claim_next().id == second.id  # type: ignore[union-attr]
    assert repo.claim_next() is None  # the queue is empty


def test_progress_is_recorded_while_running_only(repo: JobRepo) -> None:
    job = _queue(repo)
    repo.set_progress(job.id, "graph", 1, 2)  # queued: ignored
    assert repo.get_job(job.id).stage == ""
    repo.claim_next()
    repo.set_progress(job.id, "x" * 100, 3, 4)
    got = repo.get_job(job.id)
    assert (got.stage, got.done, got.total) == ("x" * 64, 3, 4)


def test_cancel_of_a_queued_job_is_at_once(repo: JobRepo) -> None:
    job = _queue(repo)
    got = repo.request_cancel(job.id)
    assert got.status == "cancelled" and got.cancel_requested
    assert got.error == "cancelled before it started" and got.finished_at is not None
    assert repo.claim_next() is None  # never runs
    with pytest.raises(NotFound):
        repo.request_cancel("e" * 32)


def test_cancel_of_a_running_job_is_cancelling_then_cancelled(repo: JobRepo) -> None:
    job = _queue(repo)
    repo.claim_next()
    got = repo.request_cancel(job.id)
    assert got.status == "running" and got.cancel_requested
    assert job_out(got).status == "cancelling"
    repo.finish_job(job.id, "cancelled", "cancelled")  # the worker stops it
    got = repo.get_job(job.id)
    assert got.status == "cancelled" and got.error == "cancelled" and got.finished_at is not None
    assert job_out(got).status == "cancelled"


def test_a_cover_finished_after_a_cancel_is_not_kept(repo: JobRepo) -> None:
    job = _queue(repo)
    repo.claim_next()
    repo.request_cancel(job.id)
    assert repo.complete_job(job.id, _cover_row(job)) is False
    assert repo.get_job(job.id).status == "cancelled"
    with pytest.raises(NotFound):
        repo.get_cover(job.cover_id)


def test_finish_records_the_cover(repo: JobRepo) -> None:
    job = _queue(repo)
    repo.claim_next()
    assert repo.complete_job(job.id, _cover_row(job, n=10)) is True
    got = repo.get_job(job.id)
    assert got.status == "succeeded" and got.error is None and got.finished_at is not None
    assert (got.stage, got.done, got.total) == ("done", 10, 10)
    assert repo.get_cover(job.cover_id).job_id == job.id
    # a final state is final: no second completion, no cancel, no failure
    assert repo.complete_job(job.id, _cover_row(job)) is False
    assert repo.request_cancel(job.id).status == "succeeded"
    repo.finish_job(job.id, "failed", "late")
    assert repo.get_job(job.id).status == "succeeded"


def test_fail_records_the_error(repo: JobRepo) -> None:
    job = _queue(repo)
    repo.claim_next()
    repo.finish_job(job.id, "failed", "eta must be > 0")
    got = repo.get_job(job.id)
    assert got.status == "failed" and got.error == "eta must be > 0"
    assert got.finished_at is not None
    assert repo.complete_job(job.id, _cover_row(job)) is False


def test_a_job_stopped_by_a_shutdown_is_queued_again(repo: JobRepo) -> None:
    job = _queue(repo)
    repo.claim_next()
    repo.set_progress(job.id, "graph", 1, 2)
    repo.finish_job(job.id, "queued")
    got = repo.get_job(job.id)
    assert got.status == "queued" and got.started_at is None and got.finished_at is None
    assert (got.stage, got.done, got.total) == ("", 0, 0)
    again = repo.claim_next()
    assert again is not None and again.id == job.id and again.attempts == 2


def test_recover_after_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path)
    interrupted, cancelling, finished, waiting = (_queue(store) for _ in range(4))
    for _ in range(3):  # the first three run
        store.claim_next()
    store.request_cancel(cancelling.id)
    store.set_progress(interrupted.id, "graph", 5, 9)
    store.complete_job(finished.id, _cover_row(finished))
    store.close()  # a crash: two jobs left running

    store = Store(tmp_path)
    assert store.recover() == 2  # the interrupted one, and the one that never ran
    got = store.get_job(interrupted.id)
    assert got.status == "queued" and got.started_at is None and got.stage == ""
    assert store.get_job(cancelling.id).status == "cancelled"
    assert store.get_job(finished.id).status == "succeeded"
    assert store.get_job(waiting.id).status == "queued"
    assert store.claim_next().id == interrupted.id  # type: ignore[union-attr]
    store.close()


def test_curve_jobs_complete_without_a_cover(repo: JobRepo) -> None:
    job = _queue(repo, kind="curve")
    with pytest.raises(NotFound):
        repo.get_curve_job(job.cover_id)  # not finished yet
    repo.claim_next()
    assert repo.complete_curve(job.id, 7) is True
    got = repo.get_job(job.id)
    assert got.status == "succeeded" and (got.stage, got.done, got.total) == ("done", 7, 7)
    assert repo.get_curve_job(job.cover_id).id == job.id
    assert repo.complete_curve(job.id, 7) is False  # final
    with pytest.raises(NotFound):
        repo.get_curve_job(job.id)  # a job id is not a curve id
    with pytest.raises(NotFound):
        repo.get_cover(job.cover_id)  # a curve is no cover


def test_a_cancelled_curve_job_ends_cancelled(repo: JobRepo) -> None:
    job = _queue(repo, kind="curve")
    repo.claim_next()
    repo.request_cancel(job.id)
    assert repo.complete_curve(job.id, 7) is False
    got = repo.get_job(job.id)
    assert got.status == "cancelled" and got.error == "cancelled"
    with pytest.raises(NotFound):
        repo.get_curve_job(job.cover_id)


def test_forget_cover_waits_for_the_jobs_that_extend_it(repo: JobRepo) -> None:
    job = _queue(repo)
    repo.claim_next()
    repo.complete_job(job.id, _cover_row(job))
    child = _queue(repo, kind="add_points", parent=job.cover_id)
    with pytest.raises(Conflict, match=child.id):
        repo.forget_cover(job.cover_id)
    repo.request_cancel(child.id)  # queued: cancelled at once
    repo.forget_cover(job.cover_id)
    with pytest.raises(NotFound):
        repo.get_cover(job.cover_id)
    with pytest.raises(NotFound):
        repo.forget_cover(job.cover_id)
    assert repo.get_job(job.id).status == "succeeded"  # the job keeps its record
