"""Workers killed with SIGKILL, or stopped with SIGTERM, in real processes."""

from __future__ import annotations

import signal
import time

import pytest

pytestmark = pytest.mark.redis

THRESHOLD = 3.0  # broker_dead_threshold_seconds of the workers of these tests


def test_killed_worker_retryable_job_runs_again_and_non_retryable_never(workers):
    spin = workers.engine()
    victim = workers.start_worker(threads=2, threshold=THRESHOLD)
    spin.schedule("hold", "r1")
    spin.schedule("hold_once", "o1")
    workers.wait_event(lambda e: e.startswith("start hold r1"))
    workers.wait_event(lambda e: e.startswith("start hold_once o1"))
    survivor = workers.start_worker(threads=2, threshold=THRESHOLD)

    victim.kill()  # SIGKILL: no chance to clean up
    killed_at = time.monotonic()
    rerun = workers.wait_event(lambda e: e.startswith("start hold r1"), timeout=THRESHOLD + 15)
    assert time.monotonic() - killed_at <= THRESHOLD + 5
    assert rerun.endswith(str(survivor.pid))
    lost = workers.wait_event(lambda e: e.startswith("failed:JobLostError hold_once o1"))
    assert lost.endswith(str(survivor.pid))

    workers.release("r1")
    workers.wait_event(lambda e: e.startswith("end hold r1"))
    survivor.send_signal(signal.SIGTERM)  # flushes its acknowledgements
    assert survivor.wait(30) == 0
    records = workers.records()
    assert sum(r.startswith("start hold_once o1") for r in records) == 1
    assert sum(r.startswith("failed:") for r in records) == 1
    broker = spin.broker
    assert broker.is_queue_empty("spinach")
    assert broker.future_jobs_count() == 0
    assert [j.task_name for j in broker.running_jobs()] == []


def test_a_killed_worker_does_not_block_unique_keys_past_the_threshold(workers):
    spin = workers.engine()
    victim = workers.start_worker(threads=2, threshold=THRESHOLD)
    once = spin.schedule("hold_unique", "u1")
    retried = spin.schedule("hold_unique_retry", "u2")
    workers.wait_event(lambda e: e.startswith("start hold_unique u1"))
    workers.wait_event(lambda e: e.startswith("start hold_unique_retry u2"))
    survivor = workers.start_worker(threads=2, threshold=THRESHOLD)
    victim.kill()  # SIGKILL while both jobs hold their keys
    duplicate = spin.schedule("hold_unique", "u1")
    assert (duplicate.duplicate, duplicate.id) == (True, once.id)  # not dead yet

    # Declared dead: the job without retries fails and frees its key; the
    # other runs again on the survivor, and keeps its key while it runs.
    workers.wait_event(
        lambda e: e.startswith("failed:JobLostError hold_unique u1"), timeout=THRESHOLD + 15
    )
    workers.wait_event(lambda e: e == f"start hold_unique_retry u2 {survivor.pid}")
    again = spin.schedule("hold_unique", "u1")
    assert not again.duplicate
    workers.wait_event(lambda e: e == f"start hold_unique u1 {survivor.pid}")
    rerun = spin.schedule("hold_unique_retry", "u2")
    assert (rerun.duplicate, rerun.id) == (True, retried.id)

    workers.release("u1")
    workers.release("u2")
    workers.wait_event(lambda e: e.startswith("end hold_unique_retry u2"))
    workers.wait_event(lambda e: e.startswith("end hold_unique u1"))
    survivor.send_signal(signal.SIGTERM)  # flushes its acknowledgements
    assert survivor.wait(30) == 0
    assert not spin.schedule("hold_unique_retry", "u2").duplicate  # freed when it ended


def test_sigterm_lets_the_running_job_finish(workers):
    spin = workers.engine()
    worker = workers.start_worker(threads=2, threshold=THRESHOLD)
    spin.schedule("hold_once", "t1")
    workers.wait_event(lambda e: e.startswith("start hold_once t1"))
    worker.send_signal(signal.SIGTERM)
    workers.release("t1")
    assert worker.wait(30) == 0, workers.log_of(worker)
    records = workers.records()
    assert records[-2:] == [f"end hold_once t1 {worker.pid}", f"exit worker - {worker.pid}"]
    assert "Received SIGTERM" in workers.log_of(worker)
    assert spin.broker.running_jobs() == []
    assert spin.broker.is_queue_empty("spinach")


def test_sigterm_returns_unstarted_work_and_a_new_worker_takes_it(workers):
    spin = workers.engine()
    worker = workers.start_worker(threads=1, threshold=THRESHOLD, extra=["--signal-events"])
    spin.schedule("hold", "a")
    workers.wait_event(lambda e: e.startswith("start hold a"))
    for n in range(5):
        spin.schedule("record", n)
    worker.send_signal(signal.SIGTERM)
    # Released once the stop has begun: the free slot must not take a job.
    workers.wait_event(lambda e: e.startswith("signal worker SIGTERM"))
    workers.release("a")
    assert worker.wait(30) == 0
    successor = workers.start_worker(threads=2, threshold=THRESHOLD)
    for n in range(5):
        workers.wait_event(lambda e, n=n: e == f"run record {n} {successor.pid}")
    successor.send_signal(signal.SIGTERM)  # flushes its acknowledgements
    assert successor.wait(30) == 0
    assert spin.broker.running_jobs() == []
    assert spin.broker.is_queue_empty("spinach")
