"""Redis goes away and comes back: no takeover without proof of death (issue 11).

A failover, a pause or a partition can last longer than the dead threshold.
Every worker's heartbeat is then old, but nobody died: missing heartbeats
prove death only to an observer that was connected the whole time.
"""

from __future__ import annotations

import signal

import pytest

pytestmark = pytest.mark.redis

THRESHOLD = 3.0  # broker_dead_threshold_seconds of the workers of these tests


def test_redis_outage_longer_than_threshold_runs_no_job_twice(workers):
    spin = workers.engine()
    # Two workers, each running a retryable and a non-retryable job...
    a = workers.start_worker(threads=2, threshold=THRESHOLD)
    spin.schedule("hold", "a-retryable")
    spin.schedule("hold_once", "a-once")
    workers.wait_event(lambda e: e == f"start hold a-retryable {a.pid}")
    workers.wait_event(lambda e: e == f"start hold_once a-once {a.pid}")
    b = workers.start_worker(threads=2, threshold=THRESHOLD)  # A is full: B gets the next two
    spin.schedule("hold", "b-retryable")
    spin.schedule("hold_once", "b-once")
    workers.wait_event(lambda e: e == f"start hold b-retryable {b.pid}")
    workers.wait_event(lambda e: e == f"start hold_once b-once {b.pid}")
    # ...and an idle one, free to start whatever would be handed over.
    c = workers.start_worker(threads=2, threshold=THRESHOLD)
    tokens = {"hold": ("a-retryable", "b-retryable"), "hold_once": ("a-once", "b-once")}

    # Redis answers nobody for three dead thresholds.
    pauser = workers.broker_server.client()
    pauser.execute_command("CLIENT", "PAUSE", int(3 * THRESHOLD * 1000), "ALL")
    pauser.ping()  # answered once the pause is over
    pauser.close()

    def run_twice_or_lost(event: str) -> bool:
        return event.startswith(("start hold", "failed:"))

    pids = f"(A={a.pid}, B={b.pid}, C={c.pid})"

    # The workers come back and heartbeat for more than a threshold again.
    event = workers.watch(1.5 * THRESHOLD, bad=run_twice_or_lost)
    assert event is None, f"after the outage, a running job was taken over: {event} {pids}"
    spin.schedule("record", "after")
    workers.wait_event(lambda e: e.startswith("run record after "))
    event = workers.watch(0, bad=run_twice_or_lost)
    assert event is None, f"after the outage, a running job was taken over: {event} {pids}"

    for pair in tokens.values():
        for token in pair:
            workers.release(token)
    for task, pair in tokens.items():
        for token, owner in zip(pair, (a, b)):
            ended = workers.wait_event(lambda e, p=f"end {task} {token} ": e.startswith(p))
            assert ended.endswith(f" {owner.pid}")
    for worker in (a, b, c):
        worker.send_signal(signal.SIGTERM)
    for worker in (a, b, c):
        assert worker.wait(30) == 0, workers.log_of(worker)

    records = workers.records()
    for task, pair in tokens.items():
        for token in pair:
            starts = [r for r in records if r.startswith(f"start {task} {token} ")]
            assert len(starts) == 1, starts
    assert not [r for r in records if r.startswith("failed:")]
    broker = spin.broker
    assert broker.is_queue_empty("spinach")
    assert broker.future_jobs_count() == 0
    assert broker.running_jobs() == []
