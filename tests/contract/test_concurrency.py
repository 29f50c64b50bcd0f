"""Contract: max_concurrency is global to the namespace and never reset."""

from __future__ import annotations

from spinach.job import JobStatus

from .helpers import heartbeat_for, make_job, make_task


def _finish(broker, jobs):
    for job in jobs:
        job.status = JobStatus.SUCCEEDED
    broker.acknowledge(jobs)


def test_limit_holds_and_parked_jobs_return_in_order(broker, clock):
    broker.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=2)])
    jobs = [make_job(clock, "limited", max_retries=1, args=(i,)) for i in range(5)]
    free = make_job(clock, "free")
    broker.enqueue_jobs([*jobs, free])

    first = broker.get_jobs_from_queue("q", 10)
    assert first == [jobs[0], jobs[1], free]
    assert broker.queue_length("q") == 3  # parked jobs still count
    assert not broker.is_queue_empty("q")
    assert broker.get_jobs_from_queue("q", 10) == []

    _finish(broker, [first[0]])
    assert broker.get_jobs_from_queue("q", 10) == [jobs[2]]
    _finish(broker, [first[1], free])
    assert broker.get_jobs_from_queue("q", 10) == [jobs[3]]
    assert broker.queue_length("q") == 1


def test_limit_is_global_across_workers(backend, clock):
    a, b = backend.broker(), backend.broker()
    a.start()
    b.start()
    a.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    a.enqueue_jobs([make_job(clock, "limited", max_retries=1) for _ in range(3)])
    [running] = a.get_jobs_from_queue("q", 5)
    assert b.get_jobs_from_queue("q", 5) == []
    _finish(a, [running])
    assert len(b.get_jobs_from_queue("q", 5)) == 1
    assert a.get_jobs_from_queue("q", 5) == []


def test_starting_worker_never_resets_counters(backend, clock):
    a = backend.broker()
    a.start()
    task = make_task("limited", max_retries=1, max_concurrency=1)
    a.set_concurrency_keys([task])
    a.enqueue_jobs([make_job(clock, "limited", max_retries=1) for _ in range(2)])
    assert len(a.get_jobs_from_queue("q", 5)) == 1

    newcomer = backend.broker()
    newcomer.start()
    newcomer.set_concurrency_keys([task])  # what a starting worker does
    assert newcomer.get_jobs_from_queue("q", 5) == []


def test_raising_the_limit_releases_parked_jobs(broker, clock):
    broker.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    broker.enqueue_jobs([make_job(clock, "limited", max_retries=1) for _ in range(3)])
    assert len(broker.get_jobs_from_queue("q", 5)) == 1
    broker.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=3)])
    assert len(broker.get_jobs_from_queue("q", 5)) == 2


def test_a_limit_is_lifted_once_no_live_worker_declares_it(broker, clock):
    broker.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    broker.enqueue_jobs([make_job(clock, "limited", max_retries=1) for _ in range(3)])
    [first] = broker.get_jobs_from_queue("q", 5)
    # A deploy removes the limit: other workers may still run the old code...
    broker.set_concurrency_keys([make_task("limited", max_retries=1)])
    assert broker.get_jobs_from_queue("q", 5) == []
    # ...until none of them has declared it for the dead threshold.
    heartbeat_for(broker.broker_dead_threshold_seconds + 10, clock, broker)
    assert len(broker.get_jobs_from_queue("q", 5)) == 2
    # Finishing the job counted under the old limit leaves no stale counter.
    _finish(broker, [first])
    broker.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    broker.enqueue_jobs([make_job(clock, "limited", max_retries=1)])
    assert len(broker.get_jobs_from_queue("q", 5)) == 1


def test_a_worker_of_another_version_does_not_lift_a_limit(backend, clock):
    new, old = backend.broker(), backend.broker()
    for broker in (new, old):
        broker.start()
    new.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    old.set_concurrency_keys([make_task("limited", max_retries=1)])  # started after the new one
    new.enqueue_jobs([make_job(clock, "limited", max_retries=1) for _ in range(3)])
    heartbeat_for(3 * new.broker_dead_threshold_seconds, clock, new, old)
    assert len(old.get_jobs_from_queue("q", 5)) == 1
    assert new.get_jobs_from_queue("q", 5) == []


def test_retry_of_limited_job_frees_its_slot(broker, clock):
    broker.set_concurrency_keys([make_task("limited", max_retries=2, max_concurrency=1)])
    broker.enqueue_jobs([make_job(clock, "limited", max_retries=2) for _ in range(2)])
    [job] = broker.get_jobs_from_queue("q", 5)
    job.status = JobStatus.QUEUED
    job.retries = 1
    broker.acknowledge([job])
    assert len(broker.get_jobs_from_queue("q", 5)) == 1
    assert broker.queue_length("q") == 1


def test_parked_jobs_never_hide_runnable_ones(broker, clock):
    broker.set_concurrency_keys([make_task("limited", max_retries=1, max_concurrency=1)])
    limited = [make_job(clock, "limited", max_retries=1) for _ in range(3)]
    free = [make_job(clock, "free") for _ in range(2)]
    broker.enqueue_jobs([*limited, *free])
    # One call returns as many runnable jobs as asked, parking the others.
    assert broker.get_jobs_from_queue("q", 2) == [limited[0], free[0]]
    assert broker.get_jobs_from_queue("q", 2) == [free[1]]
    assert broker.queue_length("q") == 2
