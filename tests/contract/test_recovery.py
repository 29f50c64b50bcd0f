"""Contract: the jobs of a dead worker, recovered once by a live one."""

from __future__ import annotations

from spinach.job import JobStatus

from .helpers import make_job, make_task


def test_dead_worker_jobs_are_recovered_once(backend, clock):
    dead = backend.broker(broker_dead_threshold_seconds=30)
    live = backend.broker(broker_dead_threshold_seconds=30)
    other = backend.broker(broker_dead_threshold_seconds=30)
    for broker in (dead, live, other):
        broker.start()
    dead.set_concurrency_keys([make_task("limited", max_retries=3, max_concurrency=1)])
    retryable = make_job(clock, "retryable", max_retries=3)
    once = make_job(clock, "once", max_retries=0)
    limited = [make_job(clock, "limited", max_retries=3) for _ in range(2)]
    dead.enqueue_jobs([retryable, once, *limited])
    assert len(dead.get_jobs_from_queue("q", 10)) == 3  # the second limited job is parked

    clock.advance(29)
    assert live.check_dead_workers() == []  # not dead yet
    clock.advance(2)
    failed = other.check_dead_workers()  # the first live worker to notice recovers
    assert failed == [once]
    assert failed[0].status is JobStatus.FAILED
    assert live.check_dead_workers() == []  # already recovered: exactly once

    again = live.get_jobs_from_queue("q", 10)
    assert sorted(j.task_name for j in again) == ["limited", "retryable"]
    assert {j.retries for j in again if j.task_name == "retryable"} == {1}
    assert live.get_jobs_from_queue("q", 10) == []  # concurrency slot freed exactly once


def test_late_ack_of_a_recovered_job_changes_nothing(backend, clock):
    slow = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    slow.start()
    live.start()
    slow.enqueue_jobs([make_job(clock, max_retries=2)])
    [job] = slow.get_jobs_from_queue("q", 1)
    clock.advance(11)
    live.check_dead_workers()
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
    clock.advance(11)
    assert live.check_dead_workers() == [job]
    assert live.is_queue_empty("q")


def test_heartbeat_keeps_a_worker_alive(backend, clock):
    busy = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    busy.start()
    live.start()
    busy.enqueue_jobs([make_job(clock)])
    busy.get_jobs_from_queue("q", 1)
    for _ in range(5):
        clock.advance(6)
        busy.check_dead_workers()
        assert live.check_dead_workers() == []
    assert len(live.running_jobs()) == 1


def test_clean_stop_leaves_nothing_to_recover(backend, clock):
    leaving = backend.broker(broker_dead_threshold_seconds=10)
    live = backend.broker(broker_dead_threshold_seconds=10)
    leaving.start()
    live.start()
    leaving.stop()
    clock.advance(60)
    assert live.check_dead_workers() == []
