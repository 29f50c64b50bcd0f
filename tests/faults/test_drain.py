"""Stops are slow: a worker draining its jobs after SIGTERM is alive (issue 11).

A deploy SIGTERMs workers whose jobs may run for minutes.  Until its last
job ends, the stopping worker must keep heartbeating, so that no other
worker takes its job over, and acknowledge the job when it ends.
"""

from __future__ import annotations

import signal

import pytest

pytestmark = pytest.mark.redis

THRESHOLD = 3.0  # broker_dead_threshold_seconds of the workers of these tests


@pytest.mark.parametrize("task", ["hold", "hold_once"])
def test_draining_worker_keeps_its_long_job_and_is_never_taken_over(workers, task):
    spin = workers.engine()
    a = workers.start_worker(threads=2, threshold=THRESHOLD, extra=("--signal-events",))
    spin.schedule(task, "long")
    workers.wait_event(lambda e: e == f"start {task} long {a.pid}")
    b = workers.start_worker(threads=2, threshold=THRESHOLD)

    a.send_signal(signal.SIGTERM)
    stopped_at = workers.ledger_time()
    workers.wait_event(lambda e: e == f"signal worker SIGTERM {a.pid}")

    # The job outlives three dead thresholds after SIGTERM, B watching.
    def taken_over(event: str) -> bool:
        return event.startswith((f"start {task} long ", "failed:"))

    left = stopped_at + 3 * THRESHOLD + 0.5 - workers.ledger_time()
    event = workers.watch(left, bad=taken_over)
    assert event is None, (
        f"the job of a draining worker was taken over "
        f"{workers.ledger_time() - stopped_at:.1f} s after SIGTERM: {event}"
    )
    # A drains (it has a free slot, but takes no new job): B, alive all
    # along, runs the jobs scheduled now.
    for n in range(3):
        spin.schedule("record", n)
    for n in range(3):
        ran = workers.wait_event(lambda e, n=n: e.startswith(f"run record {n} "))
        assert ran.endswith(f" {b.pid}"), f"a draining worker started a new job: {ran}"
    assert a.poll() is None, f"A stopped before its job ended:\n{workers.log_of(a)}"
    assert workers.watch(0, bad=taken_over) is None

    workers.release("long")
    workers.wait_event(lambda e: e == f"end {task} long {a.pid}")
    assert a.wait(30) == 0, workers.log_of(a)
    b.send_signal(signal.SIGTERM)  # flushes its acknowledgements
    assert b.wait(30) == 0, workers.log_of(b)

    records = workers.records()
    assert sum(r.startswith(f"start {task} long ") for r in records) == 1, records
    assert not [r for r in records if r.startswith("failed:")]
    broker = spin.broker
    assert broker.is_queue_empty("spinach")
    assert broker.future_jobs_count() == 0
    assert broker.running_jobs() == [], "the drained job was not acknowledged"
