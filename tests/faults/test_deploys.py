"""Versions overlap: a rolling deploy loses no job and keeps the schedule (issue 11).

During a rolling deploy, workers of the old code ("v1") and the new code
("v2", ``worker_app.py --version 2``, which adds ``new_task`` and
``new_task_once``) share a namespace and its queues, and producers already
run the new code.
"""

from __future__ import annotations

import signal
import time

import pytest

pytestmark = pytest.mark.redis

THRESHOLD = 3.0


def test_job_of_a_task_unknown_to_old_workers_runs_once_on_new_ones(workers):
    spin = workers.engine()  # the producer runs the new code
    v1 = workers.start_worker(threads=1, threshold=THRESHOLD)
    spin.schedule("new_task", "retryable")  # max_retries=3
    spin.schedule("new_task_once", "once")  # max_retries=0
    # v1 (one thread) takes the queue in order: both new jobs, then the probe.
    spin.schedule("record", "probe")
    workers.wait_event(lambda e: e == f"run record probe {v1.pid}", timeout=20)
    # v1 stays up, busy, while v2 comes: the new jobs are v2's to run.
    spin.schedule("hold", "busy")
    workers.wait_event(lambda e: e == f"start hold busy {v1.pid}", timeout=20)
    v2 = workers.start_worker(threads=2, threshold=THRESHOLD, extra=("--version", "2"))

    for task, token in (("new_task", "retryable"), ("new_task_once", "once")):
        event = workers.wait_event(
            lambda e, t=task, k=token: (
                e.startswith(f"run {t} {k} ") or (e.startswith("failed:") and f" {t} {k} " in e)
            ),
            timeout=20,
        )
        assert event == f"run {task} {token} {v2.pid}", (
            f"the job of {task}, unknown to v1 (pid {v1.pid}), did not run on v2: {event}"
        )

    workers.release("busy")
    workers.wait_event(lambda e: e == f"end hold busy {v1.pid}")
    for worker in (v1, v2):
        worker.send_signal(signal.SIGTERM)
    for worker in (v1, v2):
        assert worker.wait(30) == 0, workers.log_of(worker)
    records = workers.records()
    assert sorted(r for r in records if r.startswith("run new_task")) == [
        f"run new_task retryable {v2.pid}",
        f"run new_task_once once {v2.pid}",
    ]
    assert not [r for r in records if r.startswith("failed:")], records
    broker = spin.broker
    assert broker.is_queue_empty("spinach")
    assert broker.future_jobs_count() == 0
    assert broker.running_jobs() == []


# v1 has the periodic tasks tick_a and tick_b, v2 tick_a and tick_c.
TICK_A, TICK_B, TICK_C = 0.5, 0.7, 0.9
V1 = (TICK_A, TICK_B)
V2 = (TICK_A, TICK_C)


def _name(period: float) -> str:
    return f"tick_{period:g}"


def test_periodic_schedule_stays_whole_while_two_versions_run(workers):
    spin = workers.engine()

    def scheduled() -> set[str]:
        return {name for name, _ in spin.broker.periodic_tasks()}

    def ticks_after(period: float, since: float) -> None:
        workers.wait_event(
            lambda e: e.startswith(f"slot {_name(period)} ") and float(e.split()[2]) > since,
            timeout=20,
        )

    every = {_name(p) for p in (TICK_A, TICK_B, TICK_C)}
    v1 = workers.start_worker(threads=2, threshold=THRESHOLD, periodic=V1)
    ticks_after(TICK_B, 0)

    since = time.time()
    v2 = workers.start_worker(threads=2, threshold=THRESHOLD, periodic=V2)
    assert scheduled() == every, "v2 starting removed v1's periodic task"
    ticks_after(TICK_B, since)  # v1's task still runs
    ticks_after(TICK_C, since)

    # A v1 worker restarts while v2 runs.
    v1.send_signal(signal.SIGTERM)
    assert v1.wait(30) == 0, workers.log_of(v1)
    since = time.time()
    v1 = workers.start_worker(threads=2, threshold=THRESHOLD, periodic=V1)
    assert scheduled() == every, "v1 restarting removed v2's periodic task"
    for period in (TICK_A, TICK_B, TICK_C):
        ticks_after(period, since)

    for worker in (v1, v2):
        worker.send_signal(signal.SIGTERM)
    for worker in (v1, v2):
        assert worker.wait(30) == 0, workers.log_of(worker)
    slots = [tuple(r.split()[1:3]) for r in workers.records() if r.startswith("slot ")]
    twice = sorted({slot for slot in slots if slots.count(slot) > 1})
    assert not twice, f"periodic tasks ran twice for one slot: {twice}"
    assert not [r for r in workers.records() if r.startswith("failed:")]
