"""Contract: records of tracked jobs, and cancellation.

Every broker keeps the record of a tracked job in the same atomic step as
the job itself, so what ``get_job`` says is what happened; an untracked job
has no record.
"""

from __future__ import annotations

import threading

import pytest

from spinach.job import Job, JobError, JobStatus

from .helpers import heartbeat_for, make_job, make_task

TTL = 600


def tracked(clock, **kwargs) -> Job:
    job = make_job(clock, **kwargs)
    job.track = TTL
    return job


def finish(broker, job: Job, status: JobStatus, error: JobError | None = None) -> None:
    job.status = status
    job.error = error
    broker.acknowledge([job])


def test_an_untracked_job_has_no_record(broker, clock):
    job = make_job(clock)
    broker.enqueue_jobs([job])
    assert broker.get_job(job.id_hex) is None
    [running] = broker.get_jobs_from_queue("q", 1)
    assert broker.get_job(job.id_hex) is None
    finish(broker, running, JobStatus.SUCCEEDED)
    assert broker.get_job(job.id_hex) is None
    assert broker.cancel_jobs([job.id_hex]) == [None]


def test_a_tracked_job_record_follows_it(broker, clock):
    job = tracked(clock, args=(1, "a"), kwargs={"k": [2]}, max_retries=2)
    broker.enqueue_jobs([job])
    record = broker.get_job(job.id_hex)
    assert record == job
    assert record.status is JobStatus.QUEUED
    assert (record.task_name, record.queue, record.task_args, record.task_kwargs) == (
        "task",
        "q",
        (1, "a"),
        {"k": [2]},
    )
    assert (record.retries, record.max_retries, record.track) == (0, 2, TTL)
    assert abs(record.enqueued_at.timestamp() - clock.time()) < 1e-3
    assert record.started_at is record.finished_at is record.worker_id is record.error is None

    clock.advance(2)
    [running] = broker.get_jobs_from_queue("q", 1)
    record = broker.get_job(job.id_hex)
    assert record.status is JobStatus.RUNNING
    assert record.worker_id == broker.id
    assert abs(record.started_at.timestamp() - clock.time()) < 1e-3

    clock.advance(3)
    finish(broker, running, JobStatus.SUCCEEDED)
    record = broker.get_job(job.id_hex)
    assert record.status is JobStatus.SUCCEEDED
    assert abs(record.finished_at.timestamp() - clock.time()) < 1e-3
    assert abs(record.enqueued_at.timestamp() - (clock.time() - 5)) < 1e-3


def test_a_retried_job_record_keeps_the_last_error(broker, clock):
    job = tracked(clock, max_retries=1)
    broker.enqueue_jobs([job])
    [running] = broker.get_jobs_from_queue("q", 1)
    running.retries = 1
    running.at = running.at.__class__.fromtimestamp(clock.time() + 60, running.at.tzinfo)
    finish(broker, running, JobStatus.WAITING, JobError("builtins.ValueError", "bad", "Tb..."))
    record = broker.get_job(job.id_hex)
    assert record.status is JobStatus.WAITING
    assert record.retries == 1
    assert record.error == JobError("builtins.ValueError", "bad", "Tb...")

    clock.advance(61)
    broker.move_future_jobs()
    assert broker.get_job(job.id_hex).status is JobStatus.QUEUED
    [again] = broker.get_jobs_from_queue("q", 1)
    finish(broker, again, JobStatus.FAILED, JobError("builtins.KeyError", "'k'", ""))
    record = broker.get_job(job.id_hex)
    assert record.status is JobStatus.FAILED
    assert record.error.type == "builtins.KeyError"


def test_a_future_job_record_says_waiting_then_queued(broker, clock):
    job = tracked(clock, delay=30)
    broker.enqueue_jobs([job])
    assert broker.get_job(job.id_hex).status is JobStatus.WAITING
    clock.advance(31)
    broker.move_future_jobs()
    assert broker.get_job(job.id_hex).status is JobStatus.QUEUED


def test_a_finished_record_expires(backend, broker, clock):
    job = tracked(clock)
    job.track = 60
    broker.enqueue_jobs([job])
    [running] = broker.get_jobs_from_queue("q", 1)
    finish(broker, running, JobStatus.SUCCEEDED)
    if backend.name == "memory":
        clock.advance(59)
        assert broker.get_job(job.id_hex) is not None
        clock.advance(2)
        assert broker.get_job(job.id_hex) is None
    else:  # Redis expires keys on its own clock: the key has the job's TTL
        ttl = broker.redis.ttl(broker.keys.job(job.id_hex))
        assert 55 <= ttl <= 60


def test_cancelling_queued_and_future_jobs_removes_them(broker, clock):
    queued, later, kept = tracked(clock), tracked(clock, delay=30), tracked(clock)
    broker.enqueue_jobs([queued, later, kept])
    assert broker.cancel_jobs([queued.id_hex, later.id_hex]) == [
        JobStatus.CANCELLED,
        JobStatus.CANCELLED,
    ]
    assert broker.get_job(queued.id_hex).status is JobStatus.CANCELLED
    assert broker.get_job(later.id_hex).finished_at is not None
    # A future job leaves at once; a queued one stays in place, marked, until
    # the fetch that finds it drops it (cancelling never scans a queue).
    assert broker.future_jobs_count() == 0
    assert broker.queue_length("q") == 2
    clock.advance(31)
    broker.move_future_jobs()
    assert broker.get_jobs_from_queue("q", 10) == [kept]
    assert broker.queue_length("q") == 0
    assert broker.get_job(queued.id_hex).status is JobStatus.CANCELLED
    # Cancelling again changes nothing and says so.
    assert broker.cancel_jobs([queued.id_hex]) == [JobStatus.CANCELLED]


def test_cancelling_a_parked_job_removes_it(broker, clock):
    broker.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    first = tracked(clock, task_name="limited", max_retries=1)
    parked = tracked(clock, task_name="limited", max_retries=1)
    broker.enqueue_jobs([first, parked])
    assert broker.get_jobs_from_queue("q", 10) == [first]  # the second one is parked
    assert broker.queue_length("q") == 1
    assert broker.cancel_jobs([parked.id_hex]) == [JobStatus.CANCELLED]
    [running] = broker.running_jobs()
    finish(broker, running, JobStatus.SUCCEEDED)  # unparks it: the fetch drops it
    assert broker.get_jobs_from_queue("q", 10) == []
    assert broker.queue_length("q") == 0
    assert broker.get_job(parked.id_hex).status is JobStatus.CANCELLED


def test_a_cancelled_parked_job_takes_no_slot_from_the_next(broker, clock):
    broker.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    first, doomed, last = (tracked(clock, task_name="limited", max_retries=1) for _ in range(3))
    broker.enqueue_jobs([first, doomed, last])
    assert broker.get_jobs_from_queue("q", 10) == [first]  # the others are parked
    assert broker.cancel_jobs([doomed.id_hex]) == [JobStatus.CANCELLED]
    finish(broker, first, JobStatus.SUCCEEDED)  # a slot frees: the next live one moves
    assert broker.get_jobs_from_queue("q", 10) == [last]
    assert broker.queue_length("q") == 0


def test_cancel_is_all_or_none(broker, clock):
    job = tracked(clock)
    broker.enqueue_jobs([job])
    unknown = make_job(clock).id_hex
    assert broker.cancel_jobs([job.id_hex, unknown]) == [JobStatus.QUEUED, None]
    assert broker.get_job(job.id_hex).status is JobStatus.QUEUED
    assert broker.get_jobs_from_queue("q", 1) == [job]


def test_cancelling_a_running_job_asks_the_worker_running_it(backend, clock):
    worker = backend.broker()
    client = backend.broker()
    worker.start()
    asked = threading.Event()
    seen: list[Job] = []
    worker.on_cancel_requested = lambda job: (seen.append(job), asked.set())
    job = tracked(clock, max_retries=3)
    client.enqueue_jobs([job])
    [running] = worker.get_jobs_from_queue("q", 1)

    assert client.cancel_jobs([job.id_hex]) == [JobStatus.RUNNING]
    assert client.cancel_jobs([job.id_hex]) == [JobStatus.RUNNING]  # asking twice is harmless
    assert asked.wait(10), "the worker running the job was not told"
    assert seen[0] is running and len(seen) == 1  # told once, however often asked
    assert running.cancel_requested
    assert client.get_job(job.id_hex).cancel_requested

    # Even if the job fails and could be retried, a requested cancel ends it.
    running.retries = 1
    finish(worker, running, JobStatus.QUEUED, JobError("spinach.exc.JobCancelledError", "", ""))
    assert client.get_job(job.id_hex).status is JobStatus.CANCELLED
    assert worker.get_jobs_from_queue("q", 10) == []


def test_a_job_lost_with_its_worker_is_recorded(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=30)
    live = backend.broker(broker_dead_threshold_seconds=30)
    dead.start()
    live.start()
    once, retryable = tracked(clock, max_retries=0), tracked(clock, max_retries=2)
    dead.enqueue_jobs([once, retryable])
    assert len(dead.get_jobs_from_queue("q", 10)) == 2
    assert heartbeat_for(40, clock, live) == [once]

    record = live.get_job(once.id_hex)
    assert record.status is JobStatus.FAILED
    assert record.error.type == "spinach.exc.JobLostError"
    assert record.finished_at is not None
    record = live.get_job(retryable.id_hex)
    assert record.status is JobStatus.QUEUED
    assert record.retries == 1
    assert record.error.type == "spinach.exc.JobLostError"
    [again] = live.get_jobs_from_queue("q", 10)
    assert again == retryable
    assert live.get_job(retryable.id_hex).worker_id == live.id


def test_a_job_handed_back_is_recorded_waiting(broker, clock):
    job = tracked(clock)
    broker.enqueue_jobs([job])
    [running] = broker.get_jobs_from_queue("q", 1)
    running.hand_back(clock.time() + 5)
    broker.acknowledge([running])
    assert broker.get_job(job.id_hex).status is JobStatus.WAITING


def test_flush_forgets_the_records_of_unfinished_jobs(backend, clock):
    worker = backend.broker()
    worker.start()
    worker.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    queued, later = tracked(clock), tracked(clock, delay=60)
    running = tracked(clock, task_name="limited", max_retries=1)
    parked = tracked(clock, task_name="limited", max_retries=1)
    worker.enqueue_jobs([running, parked, queued, later])
    assert len(worker.get_jobs_from_queue("q", 2)) == 2  # running and queued; parked waits
    worker.flush()
    for job in (queued, later, running, parked):
        assert worker.get_job(job.id_hex) is None, job


@pytest.mark.parametrize("ttl", [1, 86400 * 365])
def test_track_travels_in_the_payload(clock, ttl):
    job = tracked(clock)
    job.track = ttl
    again = Job.deserialize(job.serialize())
    assert again.track == ttl
    assert job.serialize().endswith(f',"track":{ttl}}}')


# -- results -------------------------------------------------------------------


def storing(clock, **kwargs) -> Job:
    job = make_job(clock, **kwargs)
    job.result_ttl = TTL
    return job


def test_a_result_is_stored_and_wakes_a_blocked_waiter(broker, clock):
    job = storing(clock)
    broker.enqueue_jobs([job])
    assert broker.wait_result(job.id_hex, 0.05) is None  # not finished: times out
    assert broker.get_job(job.id_hex) is None  # results alone keep no record
    got: list = []
    waiting = threading.Thread(
        target=lambda: got.append(broker.wait_result(job.id_hex, 10)), name="result-waiter"
    )
    waiting.start()
    [running] = broker.get_jobs_from_queue("q", 1)
    running._result = '{"total":[1,2.5,"x"]}'
    finish(broker, running, JobStatus.SUCCEEDED)
    waiting.join(10)
    assert got == [(JobStatus.SUCCEEDED, {"total": [1, 2.5, "x"]}, None)]
    # Read again, by another waiter: the outcome stays.
    assert broker.wait_result(job.id_hex, 1) == (
        JobStatus.SUCCEEDED,
        {"total": [1, 2.5, "x"]},
        None,
    )


def test_a_failed_or_lost_job_stores_its_error(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=30)
    live = backend.broker(broker_dead_threshold_seconds=30)
    dead.start()
    live.start()
    failing, lost = storing(clock), storing(clock)
    dead.enqueue_jobs([failing, lost])
    running = dead.get_jobs_from_queue("q", 2)
    finish(dead, running[0], JobStatus.FAILED, JobError("builtins.KeyError", "'x'", "Traceback..."))
    status, value, error = live.wait_result(failing.id_hex, 1)
    assert (status, value, error) == (
        JobStatus.FAILED,
        None,
        JobError("builtins.KeyError", "'x'", "Traceback..."),
    )
    assert heartbeat_for(40, clock, live) == [lost]
    status, _, error = live.wait_result(lost.id_hex, 1)
    assert status is JobStatus.FAILED
    assert error.type == "spinach.exc.JobLostError"


def test_a_cancelled_job_stores_its_outcome(broker, clock):
    job = storing(clock)
    job.track = TTL
    broker.enqueue_jobs([job])
    assert broker.cancel_jobs([job.id_hex]) == [JobStatus.CANCELLED]
    assert broker.wait_result(job.id_hex, 1) == (JobStatus.CANCELLED, None, None)


def test_results_travel_in_the_payload_after_tracking(clock):
    job = storing(clock)
    job.track = 60
    assert job.serialize().endswith(f',"track":60,"result":{TTL}}}')
    again = Job.deserialize(job.serialize())
    assert (again.track, again.result_ttl) == (60, TTL)
