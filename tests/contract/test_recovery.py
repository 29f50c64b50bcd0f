"""Contract: the jobs of a dead worker, recovered once by a live one, and only with proof.

Silence proves death only to an observer that was connected the whole time
(see "Proof of death" in ``spinach.brokers.base``): the live brokers of
these tests heartbeat every interval, as running workers do, while the
"dead" ones stay silent.
"""

from __future__ import annotations

import logging

from spinach.job import JobStatus

from .helpers import heartbeat_for, make_job, make_task


def test_dead_worker_jobs_are_recovered_once(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=30)
    live = backend.broker(broker_dead_threshold_seconds=30)
    other = backend.broker(broker_dead_threshold_seconds=30)
    for broker in (dead, live, other):
        broker.start()
        # Workers of one deployment: each declares the limit of the task.
        broker.set_concurrency_keys([make_task("limited", max_retries=3, max_concurrency=1)])
    retryable = make_job(clock, "retryable", max_retries=3)
    once = make_job(clock, "once", max_retries=0)
    limited = [make_job(clock, "limited", max_retries=3) for _ in range(2)]
    dead.enqueue_jobs([retryable, once, *limited])
    assert len(dead.get_jobs_from_queue("q", 10)) == 3  # the second limited job is parked

    assert heartbeat_for(25, clock, live, other) == []  # not dead yet
    failed = heartbeat_for(10, clock, other, live)  # the first live worker to notice recovers
    assert failed == [once]
    assert failed[0].status is JobStatus.FAILED
    assert heartbeat_for(40, clock, live, other) == []  # already recovered: exactly once

    again = live.get_jobs_from_queue("q", 10)
    assert sorted(j.task_name for j in again) == ["limited", "retryable"]
    assert {j.retries for j in again if j.task_name == "retryable"} == {1}
    assert live.get_jobs_from_queue("q", 10) == []  # concurrency slot freed exactly once


def test_recovery_happens_within_threshold_and_one_heartbeat(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=20)
    live = backend.broker(broker_dead_threshold_seconds=20)
    live.start()
    heartbeat_for(20, clock, live)  # the observer has been connected for a threshold
    dead.start()
    dead.enqueue_jobs([make_job(clock, max_retries=1)])
    dead.get_jobs_from_queue("q", 1)
    heartbeat_for(20 + live.heartbeat_interval, clock, live)
    assert len(live.get_jobs_from_queue("q", 10)) == 1


def test_late_ack_of_a_recovered_job_changes_nothing(backend, clock):
    slow = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    slow.start()
    live.start()
    slow.enqueue_jobs([make_job(clock, max_retries=2)])
    [job] = slow.get_jobs_from_queue("q", 1)
    heartbeat_for(12, clock, live)
    job.status = JobStatus.QUEUED
    job.retries = 1
    slow.acknowledge([job])  # the "dead" worker was only slow
    assert live.queue_length("q") == 1


def test_retryable_job_out_of_retries_fails(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    dead.start()
    live.start()
    job = make_job(clock, max_retries=1)
    job.retries = 1
    dead.enqueue_jobs([job])
    dead.get_jobs_from_queue("q", 1)
    assert heartbeat_for(12, clock, live) == [job]
    assert live.is_queue_empty("q")


def test_heartbeat_keeps_a_worker_alive(backend, clock):
    busy = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    busy.start()
    live.start()
    busy.enqueue_jobs([make_job(clock)])
    busy.get_jobs_from_queue("q", 1)
    assert heartbeat_for(60, clock, busy, live) == []
    assert len(live.running_jobs()) == 1


def test_clean_stop_leaves_nothing_to_recover(backend, clock):
    leaving = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    leaving.start()
    live.start()
    leaving.stop()
    assert heartbeat_for(60, clock, live) == []


def test_an_outage_longer_than_the_threshold_takes_nothing_over(backend, clock):
    """Every heartbeat is old after an outage: nobody may take it for a death."""
    first = backend.broker(broker_dead_threshold_seconds=10)
    second = backend.broker(broker_dead_threshold_seconds=10)
    for broker in (first, second):
        broker.start()
    first.enqueue_jobs([make_job(clock, max_retries=3), make_job(clock, max_retries=0)])
    assert len(first.get_jobs_from_queue("q", 1)) == 1
    assert len(second.get_jobs_from_queue("q", 1)) == 1
    heartbeat_for(20, clock, first, second)

    clock.advance(35)  # the storage was unreachable: no heartbeat went through
    assert first.check_dead_workers() == []  # back first: its own view is not current
    assert heartbeat_for(40, clock, first, second) == []
    assert len(first.running_jobs()) == 2
    assert first.is_queue_empty("q")


def test_a_paused_observer_takes_nothing_over_when_it_resumes(backend, clock):
    """A worker frozen (GC, SIGSTOP, swapped VM) wakes up with a stale view."""
    observer = backend.broker(broker_dead_threshold_seconds=10)
    busy = backend.broker(broker_dead_threshold_seconds=10)
    for broker in (observer, busy):
        broker.start()
    heartbeat_for(20, clock, observer, busy)
    busy.enqueue_jobs([make_job(clock, max_retries=3)])
    busy.get_jobs_from_queue("q", 1)
    # The observer is frozen for 30 s while busy is frozen too in the same
    # instant of the storage's time (as if the storage had paused them both).
    clock.advance(30)
    assert observer.check_dead_workers() == []
    busy.check_dead_workers()
    assert heartbeat_for(30, clock, observer, busy) == []
    assert len(observer.running_jobs()) == 1


def test_a_fresh_worker_waits_a_threshold_of_its_own_before_adopting(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=10)
    dead.start()
    dead.enqueue_jobs([make_job(clock, max_retries=3)])
    dead.get_jobs_from_queue("q", 1)
    clock.advance(100)  # dead for long
    newcomer = backend.broker(broker_dead_threshold_seconds=10)
    newcomer.start()
    assert heartbeat_for(8, clock, newcomer) == []
    assert newcomer.is_queue_empty("q")
    heartbeat_for(4, clock, newcomer)
    assert newcomer.queue_length("q") == 1


def test_a_worker_declared_dead_is_told_fetches_nothing_and_registers_again(backend, clock, caplog):
    frozen = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    frozen.start()
    live.start()
    frozen.enqueue_jobs([make_job(clock, max_retries=3) for _ in range(2)])
    [job] = frozen.get_jobs_from_queue("q", 1)
    heartbeat_for(12, clock, live)  # frozen was silent: declared dead, its job re-queued
    assert live.queue_length("q") == 2
    # Back to life: until its heartbeat, whatever it fetched would never be recovered.
    assert frozen.get_jobs_from_queue("q", 10) == []
    with caplog.at_level(logging.ERROR, logger="spinach.broker"):
        assert frozen.check_dead_workers() == []
    assert "was declared dead by another worker" in caplog.text
    job.status = JobStatus.SUCCEEDED
    frozen.acknowledge([job])  # its outcome is discarded: the job was settled by the adopter
    assert live.queue_length("q") == 2
    assert len(frozen.get_jobs_from_queue("q", 10)) == 2  # registered again, it works
    assert heartbeat_for(30, clock, frozen, live) == []


def test_adopting_thousands_of_jobs_at_once(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    dead.start()
    live.start()
    jobs = [make_job(clock, max_retries=1, args=(n,)) for n in range(5000)]
    for start in range(0, len(jobs), 1000):
        dead.enqueue_jobs(jobs[start : start + 1000])
    assert len(dead.get_jobs_from_queue("q", 5000)) == 5000
    assert heartbeat_for(12, clock, live) == []
    again = []
    while batch := live.get_jobs_from_queue("q", 1000):
        again += batch
    assert sorted(job.task_args[0] for job in again) == list(range(5000))
    assert {job.retries for job in again} == {1}


def test_a_worker_declared_dead_keeps_its_two_runs_of_one_job_apart(backend, clock):
    frozen = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    frozen.start()
    live.start()
    frozen.set_concurrency_keys([make_task("limited", max_retries=3, max_concurrency=1)])
    frozen.enqueue_jobs([make_job(clock, "limited", max_retries=3)])
    [old_run] = frozen.get_jobs_from_queue("q", 1)
    heartbeat_for(12, clock, live)  # taken over: queued again for a second run
    frozen.check_dead_workers()  # back: told it was declared dead
    [new_run] = frozen.get_jobs_from_queue("q", 1)  # the same job, fetched again
    assert new_run == old_run and new_run is not old_run
    old_run.status = JobStatus.SUCCEEDED
    frozen.acknowledge([old_run])  # the old run ends: its outcome must not touch the new one
    assert len(live.running_jobs()) == 1
    assert live.get_jobs_from_queue("q", 1) == []  # the slot is still the new run's
    new_run.status, new_run.retries = JobStatus.QUEUED, new_run.retries + 1
    frozen.acknowledge([new_run])
    [third] = live.get_jobs_from_queue("q", 1)
    assert third == old_run and third.retries == 2
