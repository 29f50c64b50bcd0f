"""Contract: unique jobs.

A unique job carries the digest of its key; while a live job (waiting,
queued or running) holds that key, enqueueing another job with it enqueues
nothing, and the job enqueued stands for the live one (its id and status,
``duplicate`` set). The key is freed when its job ends, however it ends, so
that a unique job can never be blocked for ever.
"""

from __future__ import annotations

import hashlib

import pytest

from spinach.codec import PayloadCodec
from spinach.job import Job, JobStatus

from .helpers import heartbeat_for, make_job

TTL = 600


def unique_job(clock, key: str = "k", **kwargs) -> Job:
    job = make_job(clock, **kwargs)
    job.track = TTL
    job.unique = hashlib.sha1(key.encode()).hexdigest()
    return job


def finish(broker, job: Job, status: JobStatus) -> None:
    job.status = status
    broker.acknowledge([job])


def test_a_duplicate_of_a_queued_job_enqueues_nothing(broker, clock):
    first = unique_job(clock, args=(1,))
    broker.enqueue_jobs([first])
    assert (first.status, first.duplicate) == (JobStatus.QUEUED, False)

    second = unique_job(clock, args=(1,))
    own_id = second.id_hex
    broker.enqueue_jobs([second])
    assert second.duplicate
    assert (second.id_hex, second.status) == (first.id_hex, JobStatus.QUEUED)
    assert broker.queue_length("q") == 1
    assert broker.get_job(own_id) is None  # no record of a job never enqueued
    other_key = unique_job(clock, key="other")
    broker.enqueue_jobs([other_key])
    assert not other_key.duplicate and broker.queue_length("q") == 2


def test_a_duplicate_says_whether_the_live_job_waits_or_runs(broker, clock):
    later = unique_job(clock, key="later", delay=60)
    broker.enqueue_jobs([later])
    again = unique_job(clock, key="later")
    broker.enqueue_jobs([again])
    assert (again.duplicate, again.id_hex, again.status) == (
        True,
        later.id_hex,
        JobStatus.WAITING,
    )

    running = unique_job(clock, key="now")
    broker.enqueue_jobs([running])
    [fetched] = broker.get_jobs_from_queue("q", 1)
    assert fetched.unique == running.unique  # the key travels with the payload
    again = unique_job(clock, key="now")
    broker.enqueue_jobs([again])
    assert (again.duplicate, again.id_hex, again.status) == (
        True,
        running.id_hex,
        JobStatus.RUNNING,
    )


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_the_key_is_freed_when_the_job_ends(broker, clock, status):
    broker.enqueue_jobs([unique_job(clock)])
    [running] = broker.get_jobs_from_queue("q", 1)
    finish(broker, running, status)
    after = unique_job(clock)
    broker.enqueue_jobs([after])
    assert not after.duplicate and after.status is JobStatus.QUEUED
    assert broker.queue_length("q") == 1


def test_a_job_being_retried_keeps_its_key(broker, clock):
    broker.enqueue_jobs([unique_job(clock, max_retries=2)])
    [running] = broker.get_jobs_from_queue("q", 1)
    running.retries = 1
    running.at = make_job(clock, delay=30).at
    finish(broker, running, JobStatus.WAITING)  # its retry waits 30 s
    again = unique_job(clock)
    broker.enqueue_jobs([again])
    assert (again.duplicate, again.status) == (True, JobStatus.WAITING)

    clock.advance(31)
    broker.move_future_jobs()
    [retried] = broker.get_jobs_from_queue("q", 1)
    finish(broker, retried, JobStatus.SUCCEEDED)
    after = unique_job(clock)
    broker.enqueue_jobs([after])
    assert not after.duplicate


def test_cancelling_a_waiting_or_queued_job_frees_its_key(broker, clock):
    queued, later = unique_job(clock, key="a"), unique_job(clock, key="b", delay=60)
    broker.enqueue_jobs([queued, later])
    assert broker.cancel_jobs([queued.id_hex, later.id_hex]) == [JobStatus.CANCELLED] * 2
    again = [unique_job(clock, key="a"), unique_job(clock, key="b", delay=60)]
    broker.enqueue_jobs(again)
    assert [job.duplicate for job in again] == [False, False]
    # The cancelled one is dropped by the fetch; the new one runs.
    assert [job.id_hex for job in broker.get_jobs_from_queue("q", 10)] == [again[0].id_hex]


def test_a_batch_takes_keys_atomically_and_in_order(broker, clock):
    batch = [
        unique_job(clock, key="x", args=(1,)),
        make_job(clock),
        unique_job(clock, key="x", args=(2,)),
        unique_job(clock, key="y"),
    ]
    broker.enqueue_jobs(batch)
    assert [job.duplicate for job in batch] == [False, False, True, False]
    assert batch[2].id_hex == batch[0].id_hex
    assert broker.queue_length("q") == 3
    fetched = broker.get_jobs_from_queue("q", 10)
    assert [job.task_args for job in fetched if job.unique] == [(1,), ()]


def test_a_job_lost_with_a_dead_worker_frees_its_key_unless_it_runs_again(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    dead.start()
    live.start()
    once, retryable = unique_job(clock, key="once"), unique_job(clock, key="again", max_retries=1)
    dead.enqueue_jobs([once, retryable])
    assert len(dead.get_jobs_from_queue("q", 2)) == 2
    assert [j.id_hex for j in heartbeat_for(12, clock, live)] == [once.id_hex]

    fresh = [unique_job(clock, key="once"), unique_job(clock, key="again")]
    live.enqueue_jobs(fresh)
    assert not fresh[0].duplicate  # failed for good with its worker: freed
    assert (fresh[1].duplicate, fresh[1].id_hex, fresh[1].status) == (
        True,
        retryable.id_hex,
        JobStatus.QUEUED,  # queued again, to run on a live worker
    )


def test_a_job_set_aside_frees_its_key(backend, clock):
    producer = backend.broker()
    worker = backend.broker()
    worker.codec = PayloadCodec(signing_key=b"the workers' key")  # the producer signs nothing
    worker.start()
    job = unique_job(clock)
    producer.enqueue_jobs([job])
    assert worker.get_jobs_from_queue("q", 1) == []  # unsigned: set aside
    assert producer.get_job(job.id_hex).status is JobStatus.FAILED
    after = unique_job(clock)
    producer.enqueue_jobs([after])
    assert not after.duplicate


def test_a_requeued_failed_job_takes_its_key_when_free(broker, clock):
    from .test_failed_jobs import again

    broker.enqueue_jobs([unique_job(clock)])
    [running] = broker.get_jobs_from_queue("q", 1)
    finish(broker, running, JobStatus.FAILED)
    [failed] = broker.failed_jobs()
    requeued = again(failed, clock)
    requeued.unique = running.unique
    assert broker.requeue_failed([(failed, requeued)]) == [running.id_hex]
    duplicate = unique_job(clock)
    broker.enqueue_jobs([duplicate])
    assert (duplicate.duplicate, duplicate.id_hex) == (True, running.id_hex)
